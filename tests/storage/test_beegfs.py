"""BeeGFS: what compositions/beegfs/beegfs-node.sh derives from the deployment info, on
namespace hosts. BeeGFS is not packaged for this machine (nor anywhere reachable), so its
daemons cannot run here: the `prepare` step every node's unit runs before its daemon is run for
real (configuration files, stores, numeric ids), and the `nixos`-marked test in
tests/bench/test_compositions.py boots the whole file system on VMs.
"""

from __future__ import annotations

import pytest

from tests.storage.conftest import COMPOSITIONS, StartNodes

pytestmark = [pytest.mark.storage]

SCRIPT = COMPOSITIONS / "beegfs" / "beegfs-node.sh"
ENV = {"NXC_STORAGE_DEVICE": "none"}


def settings(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines())


def test_every_node_derives_its_configuration_and_ids(storage_nodes: StartNodes) -> None:
    nodes = storage_nodes([("mgmt", 1), ("meta", 2), ("storage", 2), ("client", 1)])
    for node in nodes:
        node.succeed(f"sh {SCRIPT} prepare {node.role}", ENV)
    mgmt, meta1, meta2, storage1, storage2, client = nodes

    assert settings(mgmt.succeed("cat /run/beegfs/beegfs-mgmtd.conf")) == {
        "storeMgmtdDirectory": "/var/lib/beegfs/mgmtd",
        "storeAllowFirstRunInit": "true",
        "logType": "syslog",
        "connDisableAuthentication": "true",
        "connUseRDMA": "false",
    }
    for rank, node in enumerate([meta1, meta2], start=1):
        conf = settings(node.succeed("cat /run/beegfs/beegfs-meta.conf"))
        assert conf["sysMgmtdHost"] == mgmt.address
        assert conf["storeMetaDirectory"] == "/srv/beegfs/meta"
        assert node.succeed("cat /srv/beegfs/meta/nodeNumID") == f"{rank}\n"
        assert node.succeed("cat /srv/beegfs/meta/nodeID") == f"{node.hostname}\n"
    for rank, node in enumerate([storage1, storage2], start=1):
        conf = settings(node.succeed("cat /run/beegfs/beegfs-storage.conf"))
        assert conf["sysMgmtdHost"] == mgmt.address
        assert conf["storeStorageDirectory"] == "/srv/beegfs/storage"
        ids = node.succeed("cd /srv/beegfs/storage && cat nodeNumID targetNumID targetID")
        assert ids == f"{rank}\n{rank}\n{node.hostname}\n"
    assert settings(client.succeed("cat /run/beegfs/beegfs-client.conf"))["sysMgmtdHost"] == (
        mgmt.address
    )
    assert "logType = syslog" in client.succeed("cat /run/beegfs/beegfs-helperd.conf")

    # a second boot keeps the ids; a store holding another node's id is refused
    storage2.succeed(f"sh {SCRIPT} prepare storage", ENV)
    storage2.succeed("echo 7 > /srv/beegfs/storage/targetNumID")
    done = storage2.run(f"sh {SCRIPT} prepare storage", ENV)
    assert done.returncode == 1
    assert "/srv/beegfs/storage/targetNumID holds 7, not 2" in done.stderr


def test_a_store_in_ram_and_a_wrong_role_are_refused(storage_nodes: StartNodes) -> None:
    mgmt, storage = storage_nodes([("mgmt", 1), ("storage", 1)])
    storage.succeed("mkdir -p /srv/ram && mount -t tmpfs tmpfs /srv/ram")
    done = storage.run(f"sh {SCRIPT} prepare storage", {**ENV, "BEEGFS_DATA": "/srv/ram"})
    assert done.returncode == 1
    assert "no disk for the store and /srv/ram is on tmpfs (RAM)" in done.stderr
    done = mgmt.run(f"sh {SCRIPT} prepare meta", ENV)
    assert done.returncode == 1
    assert "mgmt1 is not a node of role 'meta'" in done.stderr
