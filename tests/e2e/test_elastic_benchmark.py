"""benchmarks/elastic.py run for real, grown by one provider, then by a {manager, provider}
group: a vm deployment of the test-bed guest (QEMU under TCG, the VDE switch, real SSH), and a
g5k-ramdisk one kexec'd onto test-bed VMs standing for Grid'5000 hosts (a bridge, real SSH,
real kexec; a machine file, so no OAR server)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks import elastic
from nxc.deploy import stop_deployment
from nxc.deployment import DeploymentStore
from tests.g5k.hostvms import HostLab
from tests.vm.conftest import marked_processes

pytestmark = pytest.mark.vm

ROW = re.compile(
    r"\s*(?P<step>\d+)\s+(?P<kind>node|group)\s+(?P<before>\d+)\s+(?P<added>\d+)"
    r"\s+(?P<own>[\d.]+)\s+(?P<platform>-|[\d.]+)\s+(?P<ready>[\d.]+)\s+(?P<seen>[\d.]+)"
    r"\s+(?P<total>[\d.]+)\s+(?P<ratio>[\d.]+)\s+(?P<fail>\d+)"
)
SUMMARY = re.compile(r"elastic: (\d+) steps, nxc's own part p50 ([\d.]+) s, max ([\d.]+) s")


def _sweep(store: DeploymentStore) -> list[int]:
    """Stop every deployment of ``store`` (forcefully) and kill, by pid, what is left of it;
    the pids that were still running."""
    left: list[int] = []
    for deployment in store.list():
        server = deployment.resources.get("info_server") or {}
        markers = (deployment.resources.get("marker", ""), server.get("marker", ""))
        stop_deployment(store, deployment.name, force=True)
        for pid in (pid for marker in markers for pid in marked_processes(marker)):
            left.append(pid)
            os.kill(pid, signal.SIGKILL)
    return left


def _check_table(output: str, flavour: str) -> None:
    """The table of one provider step then one group step: flavour line, rows, summary."""
    lines = output.strip().splitlines()
    assert lines[0] == f"elastic deployment, flavour {flavour}"
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
        assert row["platform"] == "-", output  # no OAR job: vm, or a machine file
    assert rows[0]["ratio"] == "1.00"

    summary = SUMMARY.fullmatch(lines[-1])
    assert summary is not None, lines[-1]
    owns = sorted(float(row["own"]) for row in rows)
    assert summary.group(1) == "2"
    assert float(summary.group(3)) == pytest.approx(owns[-1], abs=0.001)
    assert float(summary.group(2)) == pytest.approx(sum(owns) / 2, abs=0.001)


def _lab_leftovers(lab: HostLab) -> list[str]:
    """What of ``lab`` still exists: its QEMUs, processes naming its folder, its bridge."""
    left = [f"QEMU of {host}" for host, qemu in lab.processes.items() if qemu.poll() is None]
    found = subprocess.run(["pgrep", "-f", str(lab.workdir)], capture_output=True, text=True)
    left += [f"process {pid}" for pid in found.stdout.split()]
    bridge = subprocess.run(["ip", "link", "show", lab.bridge], capture_output=True)
    return left + ([f"bridge {lab.bridge}"] if bridge.returncode == 0 else [])


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

    _check_table(output, "vm")

    record = store.load("elastic::vm")
    assert sorted(node.hostname for node in record.nodes) == [
        "manager1",
        "manager2",
        "provider1",
        "provider2",
    ]


def test_the_kexec_mode_grows_on_the_unused_hosts_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One manager on the first of four host VMs of a machine file, then one provider, then a
    {manager, provider} group, each kexec'd onto hosts of the same file; afterwards no host VM,
    DHCP server, info server or bridge of the run is left."""
    if os.geteuid() != 0:
        pytest.skip("the host VMs need root (bridge, tap devices)")
    made: list[HostLab] = []

    def seen_lab(*args: Any, **kwargs: Any) -> HostLab:
        """The real lab, kept for the checks after the run."""
        made.append(HostLab(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(elastic, "HostLab", seen_lab)
    store = DeploymentStore(tmp_path / "project" / "deploy")
    argv = ["--flavour", "g5k-ramdisk", "--steps", "1", "--group-steps", "1", "--interval", "0"]
    try:
        code = elastic.main([*argv, "--workdir", str(tmp_path)])
    finally:
        left = _sweep(store)
        lab_left = [thing for lab in made for thing in _lab_leftovers(lab)]
        for lab in made:
            lab.close()
    output = capsys.readouterr().out
    assert code == 0, output
    assert left == [], f"processes left running after the benchmark: {left}"
    assert lab_left == [], f"left of the host VMs after the benchmark: {lab_left}"
    (lab,) = made
    assert lab.count == 4
    _check_table(output, "g5k-ramdisk")

    record = store.load("elastic::g5k-ramdisk")
    hosts = {node.hostname: node.ssh_host for node in record.nodes}
    assert sorted(hosts) == ["manager1", "manager2", "provider1", "provider2"]
    assert hosts["manager1"] == lab.hosts[0] and sorted(hosts.values()) == lab.hosts
