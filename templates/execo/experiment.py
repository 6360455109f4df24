"""An experiment on a running deployment: iperf3 from node1 to every other node, with execo.

    nxc build && nxc start -r node=3 && python experiment.py

``nxc.open_deployment()`` opens the project's latest deployment; its execo hosts and
connection parameters use the deployment's own key and pinned host keys.
"""

from execo import Remote

import nxc


def main() -> None:
    with nxc.open_deployment() as env:
        params = env.execo_connection_params()
        client, *servers = env.nodes("node")
        client_host, *server_hosts = env.execo_hosts("node")
        Remote("iperf3 --server --daemon --one-off", server_hosts, connection_params=params).run()
        for server in servers:
            probe = Remote(
                f"iperf3 --client {server.address} --time 5", [client_host], connection_params=params
            ).run()
            for process in probe.processes:
                print(f"{client.hostname} -> {server.hostname}:")
                print(process.stdout.strip().splitlines()[-3])


if __name__ == "__main__":
    main()
