"""benchmarks/elastic.py run for real, grown by one provider, then by a {manager, provider}
group: a vm deployment of the test-bed guest (QEMU under TCG, the VDE switch, real SSH), and a
g5k-ramdisk one kexec'd onto test-bed VMs standing for Grid'5000 hosts (a bridge, real SSH,
real kexec; a machine file, so no OAR server), and the same grown on new jobs of a real OAR
server (the stand-in of tests/oar/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import elastic
from nxc.deploy import stop_deployment
from nxc.deployment import DeploymentState, DeploymentStore
from nxc.platforms.oar import Oar
from tests.g5k.hostvms import HostLab
from tests.oar.conftest import OarStandIn
from tests.vm.conftest import marked_processes

pytestmark = pytest.mark.vm

ROW = re.compile(
    r"\s*(?P<step>\d+)\s+(?P<kind>node|group)\s+(?P<before>\d+)\s+(?P<added>\d+)"
    r"\s+(?P<own>[\d.]+)\s+(?P<platform>-|[\d.]+)\s+(?P<ready>[\d.]+)\s+(?P<seen>[\d.]+)"
    r"\s+(?P<total>[\d.]+)\s+(?P<ratio>[\d.]+)\s+(?P<fail>\d+)"
)
SUMMARY = re.compile(r"elastic: (\d+) steps, nxc's own part p50 ([\d.]+) s, max ([\d.]+) s")
TWO_STEPS = [("1", "node", "1", "1"), ("2", "group", "2", "2")]
"""(step, kind, before, added) of one provider step then one group step."""
ENDED = {"Terminated", "Error"}
"""OAR's states of a job over (a deleted job ends in ``Error``)."""
JOBS_END_WAIT = 120.0
"""OAR ends a deleted job slowly on a loaded 2-core machine."""


def _sweep(store: DeploymentStore) -> list[int]:
    """Stop every deployment of ``store`` not recorded stopped (forcefully: a second stop
    would ask OAR about its jobs, and the OAR mode's stand-in is gone by now) and kill, by
    pid, what is left of any; the pids that were still running."""
    left: list[int] = []
    for deployment in store.list():
        server = deployment.resources.get("info_server") or {}
        markers = (deployment.resources.get("marker", ""), server.get("marker", ""))
        if deployment.state != DeploymentState.stopped:
            stop_deployment(store, deployment.name, force=True)
        for pid in (pid for marker in markers for pid in marked_processes(marker)):
            left.append(pid)
            os.kill(pid, signal.SIGKILL)
    return left


def _check_table(
    output: str, flavour: str, steps: list[tuple[str, str, str, str]], platform: bool = False
) -> None:
    """The table of ``steps`` ((step, kind, before, added) each): flavour line, rows, summary;
    the platform column a time when ``platform`` (an OAR job per step), else ``-``."""
    lines = output.strip().splitlines()
    assert lines[0] == f"elastic deployment, flavour {flavour}"
    rows = [found.groupdict() for line in lines if (found := ROW.fullmatch(line))]
    assert [(r["step"], r["kind"], r["before"], r["added"]) for r in rows] == steps, output
    for row in rows:
        for column in ("own", "ready", "seen", "total"):
            assert float(row[column]) > 0, (column, output)
        if platform:
            assert row["platform"] != "-" and float(row["platform"]) > 0, output
        else:
            assert row["platform"] == "-", output  # no OAR job: vm, or a machine file
        spent = float(row["own"]) + float(row["ready"]) + float(row["platform"] if platform else 0)
        assert float(row["total"]) >= spent, output
        assert row["fail"] == "0", output
    assert rows[0]["ratio"] == "1.00"

    summary = SUMMARY.fullmatch(lines[-1])
    assert summary is not None, lines[-1]
    owns = [float(row["own"]) for row in rows]
    assert summary.group(1) == str(len(steps))
    assert float(summary.group(3)) == pytest.approx(max(owns), abs=0.001)
    assert float(summary.group(2)) == pytest.approx(statistics.median(owns), abs=0.001)


def _lab_leftovers(lab: HostLab) -> list[str]:
    """What of ``lab`` still exists: its QEMUs, processes naming its folder, its bridge."""
    left = [f"QEMU of {host}" for host, qemu in lab.processes.items() if qemu.poll() is None]
    found = subprocess.run(["pgrep", "-f", str(lab.workdir)], capture_output=True, text=True)
    left += [f"process {pid}" for pid in found.stdout.split()]
    bridge = subprocess.run(["ip", "link", "show", lab.bridge], capture_output=True)
    return left + ([f"bridge {lab.bridge}"] if bridge.returncode == 0 else [])


def _watching_labs(monkeypatch: pytest.MonkeyPatch) -> list[HostLab]:
    """The host labs the benchmark makes from now on (real ones), for the checks after it."""
    made: list[HostLab] = []

    def seen_lab(*args: Any, **kwargs: Any) -> HostLab:
        made.append(HostLab(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(elastic, "HostLab", seen_lab)
    return made


def _jobs_once_over(store: DeploymentStore, standin: OarStandIn) -> dict[int, str]:
    """The OAR jobs the records of ``store`` name (the start's, the added nodes') and their
    states (``oarstat``), once all are over or after :data:`JOBS_END_WAIT` s."""
    oar = Oar(standin.frontend)
    ids = [
        job["oar_job_id"]
        for deployment in store.list()
        for job in [deployment.resources["oar"], *deployment.resources.get("added_jobs", [])]
    ]
    deadline = time.monotonic() + JOBS_END_WAIT
    while True:
        states = {job_id: oar.job_state(job_id) for job_id in ids}
        if set(states.values()) <= ENDED or time.monotonic() > deadline:
            return states
        time.sleep(2)


def _run_kexec_mode(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[int, HostLab, dict[str, str]]:
    """Run the benchmark with ``argv`` (a kexec mode) in ``tmp_path``; check that it leaves no
    process, host VM or bridge (sweeping them even when it fails); its exit code, its one
    host lab and each node's host."""
    made = _watching_labs(monkeypatch)
    store = DeploymentStore(tmp_path / "project" / "deploy")
    try:
        code = elastic.main([*argv, "--interval", "0", "--workdir", str(tmp_path)])
    finally:
        left = _sweep(store)
        lab_left = [thing for lab in made for thing in _lab_leftovers(lab)]
        for lab in made:
            lab.close()
    assert left == [], f"processes left running after the benchmark: {left}"
    assert lab_left == [], f"left of the host VMs after the benchmark: {lab_left}"
    (lab,) = made
    record = store.load("elastic::g5k-ramdisk")
    return code, lab, {node.hostname: node.ssh_host for node in record.nodes}


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

    _check_table(output, "vm", TWO_STEPS)

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
    argv = ["--flavour", "g5k-ramdisk", "--steps", "1", "--group-steps", "1"]
    code, lab, hosts = _run_kexec_mode(argv, tmp_path, monkeypatch)
    output = capsys.readouterr().out
    assert code == 0, output
    assert lab.count == 4
    _check_table(output, "g5k-ramdisk", TWO_STEPS)
    assert sorted(hosts) == ["manager1", "manager2", "provider1", "provider2"]
    assert hosts["manager1"] == lab.hosts[0] and sorted(hosts.values()) == lab.hosts


@pytest.mark.oar
@pytest.mark.timeout(2400)
def test_the_oar_mode_times_the_platform_and_leaves_no_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--oar: one manager on a deploy job of one host VM, then one provider on a new job of
    the real OAR stand-in; the step's platform time is OAR's (submission to start). After the
    deployment's stop, and before the stand-in is torn down (which would delete any job), no
    job of the run is still live in OAR (oarstat); no host VM or bridge is left."""
    if missing := elastic.oar_missing():
        pytest.skip(f"the OAR stand-in needs {', '.join(missing)}")
    jobs: dict[int, str] = {}
    store = DeploymentStore(tmp_path / "project" / "deploy")
    real_setup = elastic._setup

    def watched_setup(stack: contextlib.ExitStack, workdir: Path) -> OarStandIn:
        """The real stand-in; its jobs read once the benchmark is done with it, first thing
        on the way out (callbacks run last-in first)."""
        standin = real_setup(stack, workdir)
        stack.callback(lambda: jobs.update(_jobs_once_over(store, standin)))
        return standin

    monkeypatch.setattr(elastic, "_setup", watched_setup)
    argv = ["--flavour", "g5k-ramdisk", "--oar", "--steps", "1", "--group-steps", "0"]
    code, lab, hosts = _run_kexec_mode(argv, tmp_path, monkeypatch)
    output = capsys.readouterr().out
    assert code == 0, output
    # the manager's job and the step's, both over once the deployment stopped
    assert len(jobs) == 2 and set(jobs.values()) <= ENDED, f"OAR jobs after the stop: {jobs}"
    assert lab.count == 2
    _check_table(output, "g5k-ramdisk", [("1", "node", "1", "1")], platform=True)
    assert sorted(hosts) == ["manager1", "provider1"]
    assert sorted(hosts.values()) == lab.hosts
