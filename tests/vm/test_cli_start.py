"""``nxc start`` / ``nxc status --live`` / ``nxc stop`` through the real CLI (subprocesses)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nxc.deployment import DeploymentState
from tests.vm.conftest import VmProject, marked_processes, nxc, write_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.vm
def test_start_status_stop(vm_project: VmProject, vm_cleanup: list) -> None:
    vm_cleanup.append((vm_project.store, "testbed::vm"))
    started = nxc(
        "start", "--manifest", str(vm_project.manifest_path), "-r", "node=2",
        "--accel", "tcg", "--memory", "192M", "--timeout", "900",
        cwd=vm_project.root, timeout=1000,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    assert "testbed::vm" in started.stdout and "2 node(s) ready" in started.stdout
    status = nxc("status", "testbed::vm", "--live", cwd=vm_project.root)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("ready") >= 4  # recorded and live state of both nodes
    stopped = nxc("stop", cwd=vm_project.root)
    assert stopped.returncode == 0, stopped.stderr
    record = vm_project.store.load("testbed::vm")
    assert record.state is DeploymentState.stopped
    assert marked_processes(record.resources["marker"]) == []


@pytest.mark.vm
def test_foreground_stops_on_ctrl_c(vm_project: VmProject, vm_cleanup: list) -> None:
    vm_cleanup.append((vm_project.store, "testbed::vm"))
    process = subprocess.Popen(
        [sys.executable, "-m", "nxc", "start", "--manifest", str(vm_project.manifest_path),
         "-r", "node=1", "--accel", "tcg", "--timeout", "900", "--foreground"],
        cwd=vm_project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    record = vm_project.store.path_for("testbed::vm")
    try:
        deadline = time.monotonic() + 900
        while not (record.exists() and json.loads(record.read_text())["state"] == "running"):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "stopped testbed::vm" in out
    stopped = vm_project.store.load("testbed::vm")
    assert stopped.state is DeploymentState.stopped
    assert marked_processes(stopped.resources["marker"]) == []


PASSING_SCRIPT = """\
start_all()
with subtest("the node answers"):
    machine.succeed("test $(hostname) = node")
"""
FAILING_SCRIPT = """\
start_all()
with subtest("a check that fails"):
    machine.succeed("false")
"""


@pytest.mark.vm
@pytest.mark.parametrize(("script", "code"), [(PASSING_SCRIPT, 0), (FAILING_SCRIPT, 1)])
def test_start_t_runs_the_script_then_stops_whatever_its_outcome(
    vm_project: VmProject, vm_cleanup: list, testbed_guest, tmp_path: Path, script: str, code: int
) -> None:
    vm_cleanup.append((vm_project.store, "testbed::vm"))
    kernel, initrd, cmdline = testbed_guest
    manifest = write_manifest(
        tmp_path / "scripted.json", kernel, initrd, cmdline, test_script=script
    )
    report = tmp_path / "report.xml"
    run = nxc(
        "start", "--manifest", str(manifest), "--accel", "tcg", "--memory", "192M",
        "--timeout", "900", "-t", "--junit-xml", str(report),
        cwd=vm_project.root, timeout=1000,
    )  # fmt: skip
    assert run.returncode == code, run.stdout + run.stderr
    assert "stopped testbed::vm" in run.stdout
    stopped = vm_project.store.load("testbed::vm")
    assert stopped.state is DeploymentState.stopped
    assert marked_processes(stopped.resources["marker"]) == []
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite.get("failures") == ("0" if code == 0 else "1")


@pytest.fixture
def fake_boot_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose vm manifest names boot files that exist (never booted here)."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    kernel, initrd = tmp_path / "bzImage", tmp_path / "initrd"
    kernel.write_bytes(b"x")
    initrd.write_bytes(b"x")
    return tmp_path, write_manifest(tmp_path / "manifest.json", kernel, initrd, "")


def assert_no_record(root: Path) -> None:
    deploy = root / "deploy"
    assert not deploy.exists() or not list(deploy.glob("*.json"))


def test_cli_refuses_too_little_and_too_much_memory(fake_boot_project) -> None:
    root, manifest = fake_boot_project
    small = nxc("start", "--manifest", str(manifest), "--memory", "64M", cwd=root)
    assert "128M" in one_error_line(small, 2)
    huge = nxc("start", "--manifest", str(manifest), "-r", "node=100", "--memory", "4G", cwd=root)
    line = one_error_line(huge, 2)
    assert "100 nodes" in line and "MemAvailable" in line and "--memory" in line
    assert_no_record(root)


@pytest.mark.parametrize(
    ("option", "needle"),
    [
        (["--disk-size", "banana"], "--disk-size 'banana' is not a size"),
        (["--cpus", "100000"], "--cpus 100000 must be between 1 and 255"),
        (["--timeout", "nan"], "--timeout nan: must be a positive number"),
    ],
)
def test_cli_refuses_bad_vm_options_before_writing_anything(
    fake_boot_project, option: list[str], needle: str
) -> None:
    root, manifest = fake_boot_project
    result = nxc("start", "--manifest", str(manifest), *option, cwd=root)
    assert needle in one_error_line(result, 2)
    assert_no_record(root)


def test_start_t_without_a_test_script_is_refused_before_anything_boots(
    fake_boot_project,
) -> None:
    root, manifest = fake_boot_project
    result = nxc("start", "--manifest", str(manifest), "-t", cwd=root)
    assert "has no testScript" in one_error_line(result, 2)
    assert_no_record(root)
    lone = nxc("start", "--manifest", str(manifest), "--junit-xml", "r.xml", cwd=root)
    assert "add -t/--test-script" in one_error_line(lone, 2)


def test_cli_names_the_missing_tool_package(fake_boot_project, tmp_path: Path) -> None:
    root, manifest = fake_boot_project
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qemu-system-x86_64").symlink_to(shutil.which("qemu-system-x86_64") or "/bin/false")
    for path, package in ((str(tmp_path / "empty"), "qemu-system-x86"), (str(bin_dir), "vde2")):
        env = {**os.environ, "PATH": path}
        result = nxc("start", "--manifest", str(manifest), cwd=root, env=env)
        assert f"apt-get install {package}" in one_error_line(result, 3)
    assert_no_record(root)


def test_cli_refuses_a_manifest_of_another_flavour(fake_boot_project) -> None:
    root, _ = fake_boot_project
    result = nxc("start", "--manifest", str(FIXTURES / "multi-docker.json"), "-f", "vm", cwd=root)
    assert "docker" in one_error_line(result, 2)
    assert_no_record(root)
