"""benchmarks/elastic.py run for real: a vm deployment of the test-bed guest (QEMU under TCG,
the VDE switch, real SSH) grown by one provider, then by a {manager, provider} group."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from benchmarks import elastic
from nxc.deploy import stop_deployment
from nxc.deployment import DeploymentStore
from tests.vm.conftest import marked_processes

pytestmark = pytest.mark.vm

ROW = re.compile(
    r"\s*(?P<step>\d+)\s+(?P<kind>node|group)\s+(?P<before>\d+)\s+(?P<added>\d+)"
    r"\s+(?P<own>[\d.]+)\s+-\s+(?P<ready>[\d.]+)\s+(?P<seen>[\d.]+)\s+(?P<total>[\d.]+)"
    r"\s+(?P<ratio>[\d.]+)\s+(?P<fail>\d+)"
)
SUMMARY = re.compile(r"elastic: (\d+) steps, nxc's own part p50 ([\d.]+) s, max ([\d.]+) s")


def _sweep(store: DeploymentStore) -> list[int]:
    """Stop every deployment of ``store`` (forcefully) and kill, by pid, what is left of it;
    the pids that were still running."""
    left: list[int] = []
    for deployment in store.list():
        marker = deployment.resources.get("marker", "")
        stop_deployment(store, deployment.name, force=True)
        for pid in marked_processes(marker):
            left.append(pid)
            os.kill(pid, signal.SIGKILL)
    return left


def test_the_benchmark_grows_a_deployment_and_prints_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = DeploymentStore(tmp_path / "project" / "deploy")
    try:
        code = elastic.main(
            ["--steps", "1", "--group-steps", "1", "--interval", "0", "--workdir", str(tmp_path)]
        )
    finally:
        left = _sweep(store)
    output = capsys.readouterr().out
    assert code == 0, output
    assert left == [], f"processes left running after the benchmark: {left}"

    lines = output.strip().splitlines()
    rows = [found.groupdict() for line in lines if (found := ROW.fullmatch(line))]
    assert [(r["step"], r["kind"], r["before"], r["added"]) for r in rows] == [
        ("1", "node", "1", "1"),
        ("2", "group", "2", "2"),
    ], output
    for row in rows:
        for column in ("own", "ready", "seen", "total"):
            assert float(row[column]) > 0, (column, output)
        assert float(row["total"]) >= float(row["own"]) + float(row["ready"])
        assert row["fail"] == "0", output
    assert rows[0]["ratio"] == "1.00"

    summary = SUMMARY.fullmatch(lines[-1])
    assert summary is not None, lines[-1]
    owns = sorted(float(row["own"]) for row in rows)
    assert summary.group(1) == "2"
    assert float(summary.group(3)) == pytest.approx(owns[-1], abs=0.001)
    assert float(summary.group(2)) == pytest.approx(sum(owns) / 2, abs=0.001)

    record = store.load("elastic::vm")
    assert sorted(node.hostname for node in record.nodes) == [
        "manager1",
        "manager2",
        "provider1",
        "provider2",
    ]
