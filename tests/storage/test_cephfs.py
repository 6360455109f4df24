"""CephFS formed by compositions/cephfs/ceph-node.py on namespace hosts, real Ceph 16 daemons.

The script the composition's systemd units run (``ceph-node.py mon|osd|mds|client``) runs
here on 1 monitor (with its manager), 3 OSD, 1 MDS and 2 client nodes (network + mount
namespaces, tests/storage/nodes.py), each with the deployment info in /run/nxc, all started at
once as at boot. Keys come from the first monitor's key server. OSDs are BlueStore on sparse
files in each node's /var/lib/ceph (disk-backed), and in one test on a loop device, which
stands in for a node's disk. This machine's
kernel has no ceph module, so the clients mount with ceph-fuse (the script's fallback; on
the composition's NixOS nodes the kernel client is used). Then the fio command nxc's bench
module builds (nxc/bench/fio.py) runs on both clients against the mount.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.storage.conftest import StartNodes, fio_on_clients, need
from tests.storage.study import CEPH_SCRIPT, form_cephfs

pytestmark = [pytest.mark.storage]


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    """A loop device over a 4 GiB sparse file on disk, detached afterwards."""
    need("losetup")
    backing = tmp_path / "osd-disk.img"
    with open(backing, "wb") as image:
        image.truncate(4 * 1024**3)
    done = subprocess.run(
        ["losetup", "--find", "--show", str(backing)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"no loop device: {done.stderr.strip()}")
    device = done.stdout.strip()
    try:
        yield device
    finally:
        subprocess.run(["losetup", "-d", device], check=False)


def test_one_mon_three_osds_one_mds_two_clients(storage_nodes: StartNodes) -> None:
    need("ceph-mon", "ceph-osd", "ceph-mds", "ceph-mgr", "ceph", "ceph-fuse", "fio", "/dev/fuse")
    nodes = storage_nodes([("mon", 1), ("osd", 3), ("mds", 1), ("client", 2)])
    form_cephfs(nodes)
    mon, *_ = nodes
    clients = [n for n in nodes if n.role == "client"]

    status = json.loads(mon.succeed("ceph osd pool get cephfs_data size --format json"))
    assert status["size"] == 3
    stat = json.loads(mon.succeed("ceph osd stat --format json"))
    assert (stat["num_osds"], stat["num_up_osds"]) == (3, 3)
    tree = mon.succeed("ceph osd tree")
    for host in ("osd1", "osd2", "osd3"):
        assert f"host {host}" in tree, tree
    assert "up:active" in mon.succeed("ceph mds stat")

    for client in clients:
        assert "fuse.ceph-fuse" in client.succeed("findmnt -n -o FSTYPE /mnt/fs")
    clients[0].succeed("echo nxc-shared-check > /mnt/fs/hello && sync")
    assert clients[1].succeed("cat /mnt/fs/hello") == "nxc-shared-check\n"

    fio_on_clients(clients)


def test_an_osd_in_ram_is_refused(storage_nodes: StartNodes) -> None:
    """Without a disk, the OSD's file must be disk-backed: tmpfs is refused before any key or
    monitor is asked for."""
    need("ceph-osd")
    [node] = storage_nodes([("osd", 1)])
    node.succeed("mount -t tmpfs tmpfs /var/lib/ceph")
    done = node.run(f"python3 {CEPH_SCRIPT} osd", {"CEPH_DEVICE": "none"})
    assert done.returncode == 1
    assert "no disk for the OSD and /var/lib/ceph/osd is on tmpfs (RAM)" in done.stderr


def test_three_monitors_two_osds_one_on_a_block_device(
    storage_nodes: StartNodes, loop_device: str
) -> None:
    """Three monitors (the two others fetch the monitor keyring from the first), each with a
    manager; with two OSDs the pools keep two copies; osd1 is given a block device (a loop
    device here, a disk on real nodes) and BlueStore uses it whole."""
    need("ceph-mon", "ceph-osd", "ceph-mds", "ceph-mgr", "ceph", "ceph-fuse", "/dev/fuse")
    nodes = storage_nodes([("mon", 3), ("osd", 2), ("mds", 1), ("client", 1)])
    form_cephfs(nodes, {"osd1": {"CEPH_DEVICE": loop_device}})
    mon3 = nodes[2]
    quorum = json.loads(mon3.succeed("ceph quorum_status --format json"))
    assert sorted(quorum["quorum_names"]) == ["mon1", "mon2", "mon3"]
    assert json.loads(mon3.succeed("ceph osd pool get cephfs_data size --format json"))["size"] == 2
    osd1 = nodes[3]
    assert osd1.succeed("readlink /var/lib/ceph/osd/ceph-*/block") == f"{loop_device}\n"
    metadata = [json.loads(osd1.succeed(f"ceph osd metadata {i} --format json")) for i in (0, 1)]
    modes = {
        m["hostname"]: (m["bluestore_bdev_access_mode"], m.get("bluestore_bdev_dev_node"))
        for m in metadata
    }
    assert modes == {"osd1": ("blk", loop_device), "osd2": ("file", None)}
    client = nodes[-1]
    client.succeed("echo nxc-shared-check > /mnt/fs/hello")
    assert client.succeed("cat /mnt/fs/hello") == "nxc-shared-check\n"
