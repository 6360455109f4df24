"""``nxc stop`` checks every value it kills or removes by, and returns only once its processes
have exited (issue 12, items 1 and 12).

Real processes (Python sleepers, and a stand-in whose exit outlasts its command line the way a
big QEMU's does) and real folders; no VM is needed to prove what stop touches.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nxc.deploy import stop_deployment
from nxc.errors import UnsafeRecordError
from nxc.flavours.common import processes
from tests.vm.conftest import nxc
from tests.vm.test_stop import alive, fake_deployment, sleepers, spawn

__all__ = ["sleepers"]  # the fixture, used by name below

SLOW_EXIT = r"""
import ctypes, os, signal, threading, time
def finish():
    time.sleep(2)  # what is left of the process after its command line is gone
    os._exit(0)
def on_term(*_):
    threading.Thread(target=finish).start()
    ctypes.CDLL(None).pthread_exit(None)  # the main thread ends: /proc/PID/cmdline is empty
signal.signal(signal.SIGTERM, on_term)
print("ready", flush=True)
time.sleep(600)
"""


def _edit_resources(store, name: str, **changes: object) -> None:
    path = store.path_for(name)
    record = json.loads(path.read_text())
    record["resources"].update(changes)
    path.write_text(json.dumps(record))


def _wait_carries(pid: int, marker: str) -> None:
    for _ in range(200):  # a just-spawned child shows an empty command line until exec ends
        if processes.is_ours(pid, marker):
            return
        time.sleep(0.02)


def test_a_plain_word_marker_and_a_foreign_run_dir_are_refused(
    tmp_path: Path, sleepers: list
) -> None:
    """The reported case: marker 'home', run_dir a folder called 'home' outside nxc's root."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    marker = processes.new_marker()
    node = spawn(sleepers, marker)
    store, _, run_dir, _ = fake_deployment(tmp_path, marker, [node.pid], 0)
    bystander = spawn(sleepers, "--home", "home")
    victim = tmp_path / "elsewhere" / "home"
    victim.mkdir(parents=True)
    (victim / "precious").write_text("keep me")
    _edit_resources(store, "fake::vm", marker="home", run_dir=str(victim))

    with pytest.raises(UnsafeRecordError, match=r"resources\.marker 'home'"):
        stop_deployment(store, "fake::vm")
    result = nxc("stop", "fake::vm", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "touches nothing" in result.stderr
    assert alive(bystander) and alive(node) and (victim / "precious").exists()
    assert run_dir.exists()

    # A well-formed marker does not make any folder removable either.
    _edit_resources(store, "fake::vm", marker=marker, run_dir=str(victim.parent / marker))
    (victim.parent / marker).mkdir()
    with pytest.raises(UnsafeRecordError, match=r"resources\.run_dir"):
        stop_deployment(store, "fake::vm")
    assert (victim.parent / marker).exists() and alive(node)

    _edit_resources(store, "fake::vm", run_dir=str(run_dir))
    stop_deployment(store, "fake::vm")
    node.wait(timeout=10)
    assert alive(bystander) and not run_dir.exists()


def test_a_run_dir_that_is_a_link_is_refused(tmp_path: Path, sleepers: list) -> None:
    marker = processes.new_marker()
    store, _, run_dir, _ = fake_deployment(tmp_path, marker, [], 0)
    run_dir.rename(tmp_path / "real")
    target = tmp_path / "target"
    target.mkdir()
    (target / "precious").write_text("keep me")
    run_dir.symlink_to(target)
    try:
        with pytest.raises(UnsafeRecordError, match="is a link"):
            stop_deployment(store, "fake::vm")
        assert (target / "precious").exists()
    finally:
        run_dir.unlink()


def test_a_marker_inside_a_longer_word_is_not_ours(sleepers: list) -> None:
    marker = processes.new_marker()
    lookalike = spawn(sleepers, f"x{marker}y", f"{marker}0")
    ours = spawn(sleepers, f"node1:{marker}")
    _wait_carries(ours.pid, marker)
    assert processes.find_marked(marker) == [ours.pid]
    assert not processes.is_ours(lookalike.pid, marker)
    assert not processes.is_ours(ours.pid, marker, started="another-boot:1")
    assert processes.is_ours(ours.pid, marker, started=processes.identity(ours.pid))


def test_stop_returns_once_the_processes_have_exited(tmp_path: Path, sleepers: list) -> None:
    """The stand-in loses its command line at SIGTERM but lives on 2 s (as QEMU tearing down
    its memory does): stop, in another process like 'nxc stop', must wait for its real end."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    marker = processes.new_marker()
    slow = subprocess.Popen(
        [sys.executable, "-c", SLOW_EXIT, f"node1:{marker}"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    sleepers.append(slow)
    assert slow.stdout is not None and slow.stdout.readline() == b"ready\n"
    fake_deployment(tmp_path, marker, [slow.pid], 0)

    result = nxc("stop", "fake::vm", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    status = Path(f"/proc/{slow.pid}/status").read_text()  # our child: a zombie until reaped
    assert "State:\tZ" in status and "Threads:\t1\n" in status
    slow.wait(timeout=10)


def test_a_process_that_will_not_die_is_reported(sleepers: list, monkeypatch) -> None:
    """SIGKILL cannot end a process stuck in the kernel, which cannot be made here on purpose:
    the one mock of this file drops the signals (os.kill), so the sleeper lives on."""
    marker = processes.new_marker()
    stuck = spawn(sleepers, marker)
    _wait_carries(stuck.pid, marker)
    monkeypatch.setattr(processes, "KILL_WAIT", 0.2)
    monkeypatch.setattr(os, "kill", lambda pid, sig: None)
    with pytest.raises(Exception, match=f"{stuck.pid} carrying {marker} did not exit"):
        processes.terminate([stuck.pid], marker, grace=0.0)
    monkeypatch.undo()
    os.kill(stuck.pid, signal.SIGKILL)
