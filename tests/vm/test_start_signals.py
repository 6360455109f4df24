"""Fault injection: ``nxc start`` ended by SIGTERM (``timeout``, a cancelled CI job) or SIGHUP
(a closed terminal) at several points cleans up as Ctrl-C does; nothing is left afterwards.

The real CLI is started in a subprocess on the test-bed guest (TCG) and signalled once it
provably reached the point: waiting for the record's lock (held by the test), record written
but nothing launched, a node launched but not ready, the test script of ``-t`` running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nxc.deployment import DeploymentState
from tests.vm.conftest import VmProject, marked_processes, write_manifest

NAME = "testbed::vm"


def start_cli(project: VmProject, manifest: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nxc", "start", "--manifest", str(manifest), "-r", "node=1",
         "--accel", "tcg", "--memory", "192M", "--timeout", "900", *extra],
        cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(process: subprocess.Popen[str], reached: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 300
    while not reached():
        assert process.poll() is None, f"start ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"start never reached {what}"
        time.sleep(0.02)


def record(project: VmProject) -> dict | None:
    path = project.store.path_for(NAME)
    return json.loads(path.read_text()) if path.exists() else None


def end_with(process: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    try:
        process.send_signal(signum)
        return process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def assert_ended_by(process: subprocess.Popen[str], err: str, signum: int) -> None:
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert f"nxc: interrupted ({name})" in err


def assert_nothing_left(project: VmProject) -> None:
    data = record(project)
    assert data is not None
    assert data["state"] in (DeploymentState.failed, DeploymentState.stopped), data["state"]
    assert marked_processes(data["resources"]["marker"]) == []  # no QEMU, no vde_switch
    assert not Path(data["resources"]["run_dir"]).exists()


SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGHUP, id="SIGHUP")]


@pytest.mark.vm
@pytest.mark.parametrize("signum", [*SIGNALS, pytest.param(signal.SIGINT, id="SIGINT")])
def test_signal_while_waiting_for_the_lock_writes_nothing(
    vm_project: VmProject, signum: int
) -> None:
    lock_path = vm_project.store.lock_path(NAME)
    lock_path.parent.mkdir(parents=True)
    with lock_path.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = start_cli(vm_project, vm_project.manifest_path)

        def waits_on_the_lock() -> bool:
            # nxc polls a held lock with time.sleep: the process sits in clock_nanosleep
            # (x86_64 syscall 230), which nothing before the lock does
            with contextlib.suppress(OSError):
                return Path(f"/proc/{process.pid}/syscall").read_text().split()[0] == "230"
            return False

        wait_for(process, waits_on_the_lock, "the record's lock")
        _, err = end_with(process, signum)
    assert_ended_by(process, err, signum)
    assert f"nothing of {NAME} had started" in err
    assert record(vm_project) is None
    assert not vm_project.store.state_dir(NAME).joinpath("logs").exists()


def has_marker() -> Callable[[VmProject], bool]:
    return lambda project: "marker" in ((record(project) or {}).get("resources") or {})


def launched_not_ready() -> Callable[[VmProject], bool]:
    def reached(project: VmProject) -> bool:
        data = record(project)
        return data is not None and data["nodes"][0].get("pid") is not None

    return reached


@pytest.mark.vm
@pytest.mark.parametrize("signum", SIGNALS)
@pytest.mark.parametrize(
    "point", [has_marker, launched_not_ready], ids=["recorded-not-launched", "launched"]
)
def test_signal_during_start_stops_everything(
    vm_project: VmProject, vm_cleanup: list, signum: int, point
) -> None:
    vm_cleanup.append((vm_project.store, NAME))
    process = start_cli(vm_project, vm_project.manifest_path)
    reached = point()
    wait_for(process, lambda: reached(vm_project), point.__name__)
    assert record(vm_project)["state"] == DeploymentState.starting  # the point was before ready
    _, err = end_with(process, signum)
    assert_ended_by(process, err, signum)
    assert f"stopped what {NAME} had started (record: failed" in err
    assert_nothing_left(vm_project)


@pytest.mark.vm
def test_start_t_stops_its_nodes_when_terminated_during_the_script(
    vm_project: VmProject, vm_cleanup: list, testbed_guest, tmp_path: Path
) -> None:
    vm_cleanup.append((vm_project.store, NAME))
    flag = tmp_path / "script-running"
    script = (
        f"start_all()\nmachine.succeed('true')\nimport pathlib, time\n"
        f"pathlib.Path({str(flag)!r}).touch()\ntime.sleep(3600)\n"
    )
    kernel, initrd, cmdline = testbed_guest
    manifest = write_manifest(
        tmp_path / "scripted.json", kernel, initrd, cmdline, test_script=script
    )
    process = start_cli(vm_project, manifest, "-t")
    wait_for(process, flag.exists, "the test script")
    assert record(vm_project)["state"] == DeploymentState.running
    _, err = end_with(process, signal.SIGTERM)
    assert_ended_by(process, err, signal.SIGTERM)
    assert f"stopped {NAME}" in err
    data = record(vm_project)
    assert data["state"] == DeploymentState.stopped
    assert marked_processes(data["resources"]["marker"]) == []


def test_start_over_a_record_whose_starter_died_says_so_and_what_to_run(
    vm_project: VmProject,
) -> None:
    """A record left ``starting`` by a killed ``nxc start`` (a real process, reaped)."""
    from nxc.deployment import Deployment
    from tests.unit.test_starter_identity import dead_identity

    identity = dead_identity()
    left = Deployment("testbed", "vm", state=DeploymentState.starting, started_by=identity)
    vm_project.store.save(left)
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "start", "--manifest", str(vm_project.manifest_path)],
        cwd=vm_project.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"the nxc start that was starting it (pid {identity['pid']}) is gone" in result.stderr
    assert "clean up what it left with 'nxc stop testbed::vm'" in result.stderr
    assert vm_project.store.load(NAME).state is DeploymentState.starting  # left for nxc stop
