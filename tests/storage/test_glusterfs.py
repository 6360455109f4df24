"""GlusterFS formed by compositions/glusterfs/gluster-node.sh on namespace hosts, real daemons.

The same script the composition's systemd units run (``gluster-node.sh server|client``) runs
here on 3 server and 2 client nodes (network + mount namespaces, tests/storage/nodes.py), each
with the deployment info in /run/nxc. On NixOS the glusterd unit starts the daemon; here the
test starts ``glusterd`` in each server the same way. Clients mount with the FUSE client
(``mount.glusterfs``; /dev/fuse works here). Then the fio command nxc's bench module builds
(nxc/bench/fio.py) runs on both clients against the mount and its JSON is parsed by it.
"""

from __future__ import annotations

import pytest

from tests.storage.conftest import StartNodes, fio_on_clients, need
from tests.storage.study import GLUSTER_SCRIPT, form_glusterfs

pytestmark = [pytest.mark.storage]


LAYOUTS = {
    "replica:3": ("Type: Replicate", "Number of Bricks: 1 x 3 = 3"),
    "disperse:2+1": ("Type: Disperse", "Number of Bricks: 1 x (2 + 1) = 3"),
    "distribute": ("Type: Distribute", "Number of Bricks: 3"),
}


@pytest.mark.parametrize("volume", list(LAYOUTS))
def test_three_servers_two_clients_share_files_and_run_fio(
    storage_nodes: StartNodes, volume: str
) -> None:
    need("glusterd", "gluster", "mount.glusterfs", "fio", "/dev/fuse")
    # the layout is chosen at deploy time (the info's parameters) over the build's default
    nodes = storage_nodes([("server", 3), ("client", 2)], {"gluster_volume": volume})
    servers = [n for n in nodes if n.role == "server"]
    clients = [n for n in nodes if n.role == "client"]
    env = {"GLUSTER_VOLUME": "distribute", "NXC_STORAGE_DEVICE": "none", "GLUSTER_TIMEOUT": "120"}
    form_glusterfs(nodes, env)
    info = servers[1].succeed("gluster --mode=script volume info gv0")
    kind, bricks = LAYOUTS[volume]
    assert kind in info and bricks in info, info
    assert "Status: Started" in info
    for server in servers:
        assert f"{server.address}:/srv/gluster/brick" in info
    for client in clients:
        assert "fuse.glusterfs" in client.succeed("findmnt -n -o FSTYPE /mnt/fs")
    clients[0].succeed("echo nxc-shared-check > /mnt/fs/hello")
    assert clients[1].succeed("cat /mnt/fs/hello") == "nxc-shared-check\n"
    if volume.startswith("replica"):  # every server's brick holds the file
        for server in servers:
            assert server.succeed("cat /srv/gluster/brick/hello") == "nxc-shared-check\n"

    fio_on_clients(clients)


def test_layout_that_does_not_fit_the_server_count_is_refused(storage_nodes: StartNodes) -> None:
    need("glusterd", "gluster")
    [server, *_] = nodes = storage_nodes([("server", 2)])
    for node in nodes:
        node.succeed("glusterd --pid-file=/run/glusterd.pid")
    done = server.run(
        f"sh {GLUSTER_SCRIPT} server", {"GLUSTER_VOLUME": "replica:3", "NXC_STORAGE_DEVICE": "none"}
    )
    assert done.returncode == 1
    assert "replica:3 needs a server count that is a multiple of 3 (>= 2), not 2" in done.stderr


def test_a_brick_in_ram_is_refused(storage_nodes: StartNodes) -> None:
    """Without a disk, the brick folder must be disk-backed: tmpfs is refused, not used."""
    need("glusterd", "gluster")
    [server] = storage_nodes([("server", 1)])
    server.succeed("mkdir -p /srv/ram && mount -t tmpfs tmpfs /srv/ram")
    done = server.run(
        f"sh {GLUSTER_SCRIPT} server", {"GLUSTER_BRICKS": "/srv/ram", "NXC_STORAGE_DEVICE": "none"}
    )
    assert done.returncode == 1
    assert "no disk for the brick and /srv/ram is on tmpfs (RAM)" in done.stderr
