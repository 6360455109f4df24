"""An experiment on a running deployment: iperf3 from node1 to every other node, with execo.

    nxc build && nxc start && python experiment.py

The deployment record (deploy/*.json) says where each node's SSH server is and which key and
known_hosts file reach it; execo runs the commands in parallel over SSH.
"""

from execo import Remote
from execo.host import Host

from nxc.project import find_project


def main() -> None:
    project = find_project()
    store = project.deployments
    deployment = store.latest()
    key = store.client_key_path(deployment.name)
    known_hosts = store.known_hosts_path(deployment.name)
    connection = {
        "user": "root",
        "keyfile": str(key),
        "ssh_options": (
            "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=20",
        ),
    }

    def host(node):
        return Host(node.ssh_host, user="root", port=node.ssh_port)

    nodes = deployment.nodes_by_role("node")
    client, servers = nodes[0], nodes[1:]
    Remote(
        "iperf3 --server --daemon --one-off",
        [host(n) for n in servers],
        connection_params=connection,
    ).run()
    for server in servers:
        probe = Remote(
            f"iperf3 --client {server.address} --time 5",
            [host(client)],
            connection_params=connection,
        ).run()
        for process in probe.processes:
            print(f"{client.hostname} -> {server.hostname}:")
            print(process.stdout.strip().splitlines()[-3])


if __name__ == "__main__":
    main()
