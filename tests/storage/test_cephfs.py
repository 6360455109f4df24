"""CephFS formed by compositions/cephfs/ceph-node.py on namespace hosts, real Ceph 16 daemons.

The script the composition's systemd units run (``ceph-node.py mon|osd|mds|client``) runs
here on 1 monitor (with its manager), 3 OSD, 1 MDS and 2 client nodes (network + mount
namespaces, tests/storage/nodes.py), each with the deployment info in /run/nxc, all started at
once as at boot. Keys come from the first monitor's key server. OSDs are BlueStore on sparse
files in each node's /var/lib/ceph (disk-backed here; no spare block device). This machine's
kernel has no ceph module, so the clients mount with ceph-fuse (the script's fallback; on
the composition's NixOS nodes the kernel client is used). Then the fio command nxc's bench
module builds (nxc/bench/fio.py) runs on both clients against the mount.
"""

from __future__ import annotations

import json

import pytest

from tests.storage.conftest import COMPOSITIONS, StartNodes, fio_on_clients, need

pytestmark = [pytest.mark.storage]

SCRIPT = COMPOSITIONS / "cephfs" / "ceph-node.py"
ENV = {"CEPH_TIMEOUT": "150", "CEPH_DEVICE": "none", "CEPH_OSD_FILE_SIZE": "4G"}


def test_one_mon_three_osds_one_mds_two_clients(storage_nodes: StartNodes) -> None:
    need("ceph-mon", "ceph-osd", "ceph-mds", "ceph-mgr", "ceph", "ceph-fuse", "fio", "/dev/fuse")
    nodes = storage_nodes([("mon", 1), ("osd", 3), ("mds", 1), ("client", 2)])
    running = [
        (node, node.popen(f"python3 {SCRIPT} {node.role}", ENV, stdout=-1, stderr=-1, text=True))
        for node in nodes
    ]
    for node, process in running:
        out, err = process.communicate(timeout=200)
        assert process.returncode == 0, f"{node.hostname}: {out}\n{err}"
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
    done = node.run(f"python3 {SCRIPT} osd", {"CEPH_DEVICE": "none"})
    assert done.returncode == 1
    assert "no disk for the OSD and /var/lib/ceph/osd is on tmpfs (RAM)" in done.stderr


def test_three_monitors_form_a_quorum_and_pools_follow_two_osds(storage_nodes: StartNodes) -> None:
    """Three monitors (the two others fetch the monitor keyring from the first), each with a
    manager; with two OSDs the pools keep two copies."""
    need("ceph-mon", "ceph-osd", "ceph-mds", "ceph-mgr", "ceph", "ceph-fuse", "/dev/fuse")
    nodes = storage_nodes([("mon", 3), ("osd", 2), ("mds", 1), ("client", 1)])
    running = [
        (node, node.popen(f"python3 {SCRIPT} {node.role}", ENV, stdout=-1, stderr=-1, text=True))
        for node in nodes
    ]
    for node, process in running:
        out, err = process.communicate(timeout=200)
        assert process.returncode == 0, f"{node.hostname}: {out}\n{err}"
    mon3 = nodes[2]
    quorum = json.loads(mon3.succeed("ceph quorum_status --format json"))
    assert sorted(quorum["quorum_names"]) == ["mon1", "mon2", "mon3"]
    assert json.loads(mon3.succeed("ceph osd pool get cephfs_data size --format json"))["size"] == 2
    client = nodes[-1]
    client.succeed("echo nxc-shared-check > /mnt/fs/hello")
    assert client.succeed("cat /mnt/fs/hello") == "nxc-shared-check\n"
