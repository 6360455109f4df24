"""``benchmarks/scale.py`` run for real at a tiny size: 2 and 4 namespace hosts, 2 MiB.

The script starts its own namespace hosts (real sshd), copies the artefact three ways
(parallel copy, TakTuk tree, execo ChainPut, each copy checked), runs ``true`` through the SSH
transport and loads the info server; this test reads its tables back. Needs root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.taktuk

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"
ROW = re.compile(
    r"\s*(?P<hosts>\d+)  (?P<method>parallel copy|TakTuk tree|execo ChainPut)\s+"
    r"(?P<time>[\d.]+)s\s+(?P<sent>[\d.]+)x\s+(?P<cpu>[\d.]+)s\s+(?P<ratio>[\d.]+)x\s+[\d.]+x"
)
LAST = re.compile(
    r"scale: 4 hosts, frontend sent (?P<sent>\d+\.\d\d)\N{MULTIPLICATION SIGN} the artefact "
    r"in (?P<time>\d+\.\d) s \(2 hosts: (?P<small>\d+\.\d) s\)"
)


@pytest.mark.timeout(120)
def test_scale_benchmark_tiny() -> None:
    if os.geteuid() != 0:
        pytest.skip("namespace hosts need root")
    for tool in ("ip", "taktuk", "perl", "ssh-agent"):
        if shutil.which(tool) is None:
            pytest.skip(f"the benchmark needs {tool}")
    if not Path("/bin/nc.traditional").exists():
        pytest.skip("execo's ChainPut needs netcat-traditional")
    argv = [sys.executable, str(SCRIPT), "--hosts", "2", "4", "--size", "2",
            "--run-hosts", "4", "--repeat", "2", "--info-clients", "20"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()

    rows = [found.groupdict() for line in lines if (found := ROW.fullmatch(line))]
    assert [(int(r["hosts"]), r["method"]) for r in rows] == [
        (count, method)
        for count in (2, 4)
        for method in ("parallel copy", "TakTuk tree", "execo ChainPut")
    ]
    for row in rows:
        hosts, sent = int(row["hosts"]), float(row["sent"])
        if row["method"] == "parallel copy":  # every host's copy came from this machine
            assert hosts <= sent < hosts + 1
            assert row["ratio"] == "1.00"
        else:  # the tree's relays and the chain's hops carry the other copies
            assert 1 <= sent < hosts + 1
    tree4 = next(r for r in rows if r["method"] == "TakTuk tree" and r["hosts"] == "4")

    last = LAST.fullmatch(lines[-1])
    assert last is not None, lines[-1]
    assert last["sent"] == tree4["sent"]
    assert float(last["time"]) == pytest.approx(float(tree4["time"]), abs=0.051)

    run = next(line.split() for line in lines if re.match(r"\s*4\s+\d+\.\d\d\s", line))
    first_ms, repeat_ms, rss = float(run[1]), float(run[2]), float(run[5])
    assert first_ms > repeat_ms > 0  # the first call opened the connections
    assert rss > 10
    info = next(line for line in lines if line.startswith("info server"))
    assert re.search(r": 20 concurrent fetches, p50 \d+ ms, p99 \d+ ms, 0 failed$", info)
