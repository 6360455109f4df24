"""The storage study end to end on this machine, through the real CLI (tests/storage/study.py).

GlusterFS (replica 3 over 3 servers) and CephFS (1 monitor, 3 OSDs, 1 MDS) are formed by
their compositions' node scripts with real daemons, 2 FUSE clients each; the nodes' sshd runs
in their namespaces, so ``nxc run`` and ``nxc bench fio`` over SSH see the mounts. A sweep
over block size and clients (2 runs per point, every point again on the clients' local disk)
runs on each file system, then ``nxc bench compare`` puts them side by side: the PNGs are
decoded, every number of the report's table is checked against the result JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.bench.test_report import MIB, check_png, table_rows
from tests.storage.conftest import need
from tests.storage.study import MOUNT, Sweep, file_systems, nxc, run_study

pytestmark = [pytest.mark.storage]

FSTYPES = {"glusterfs": "fuse.glusterfs", "cephfs": "fuse.ceph-fuse"}
PLOTS = [f"{m}-vs-{d}.png" for m in ("bandwidth", "iops") for d in ("block_size", "clients")]


def test_glusterfs_and_cephfs_compared_by_nxc_bench(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network and mount namespaces)")
    need("glusterd", "mount.glusterfs", "ceph-mon", "ceph-osd", "ceph-mds", "ceph-mgr")
    need("ceph-fuse", "fio", "/dev/fuse", "nsenter", "unshare", "ip", "jq", "sshd")
    project = tmp_path / "project"
    project.mkdir()
    with file_systems(tmp_path / "nodes", project) as deployments:
        assert deployments == {"glusterfs": "glusterfs::vm::study",
                               "cephfs": "cephfs::vm::study"}  # fmt: skip
        for label, name in deployments.items():  # over SSH, the clients see their mount
            done = nxc(project, "run", "--name", name, "-r", "client", "--",
                       "findmnt", "-n", "-o", "FSTYPE", MOUNT)  # fmt: skip
            lines = sorted(line.split() for line in done.stdout.splitlines() if line.strip())
            assert [words[-1] for words in lines] == [FSTYPES[label]] * 2, done.stdout
        results, report = run_study(project, deployments, tmp_path / "local", Sweep(), "study")

    text = report.read_text()
    assert text.startswith("# File systems compared: glusterfs, cephfs\n")
    for label, name in deployments.items():
        assert f"- **{label}**: fio on `{name}`" in text
    assert text.count(f"directory `{MOUNT}/{{host}}`") == 2
    for name in PLOTS:
        assert f"](study-{name})" in text
        check_png(report.parent / f"study-{name}", 960, 420)  # a panel per operation

    documents = [json.loads(path.read_text()) for path in results]
    assert [d["label"] for d in documents] == ["glusterfs", "cephfs"]
    header = next(line for line in text.splitlines() if line.startswith("| op"))
    assert "| glusterfs MiB/s | glusterfs IOPS | glusterfs of local | cephfs MiB/s |" in header
    rows = table_rows(text)
    # 2 block sizes x 2 client counts x (write, read), the same points on both
    assert len(rows) == 8
    sizes = {65536: "64k", 1048576: "1M"}
    for row, *results_of_point in zip(rows, *(d["results"] for d in documents), strict=True):
        first = results_of_point[0]
        assert row[:5] == [first["operation"], sizes[first["block_size"]],
                           str(first["clients"]), "1", "fpp"]  # fmt: skip
        for cells, result in zip((row[5:8], row[8:11]), results_of_point, strict=True):
            assert result["hosts"] == ["client1", "client2"][: result["clients"]]
            assert result["repeats"] == 2 and result["local"] is not None
            spread = result["spread"]["bandwidth"]
            assert spread["mean"] > 0
            assert cells[0] == f"{spread['mean'] / MIB:.2f} ± {spread['stdev'] / MIB:.2f}"
            assert cells[1] == f"{result['total']['iops']:.0f}"
            assert cells[2] == f"{100 * result['fraction_of_local']['bandwidth']:.0f}%"
