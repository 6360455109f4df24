"""``nxc stop`` on records listing real (dummy) processes: exactness, pid safety, idempotence.

The processes are real Python sleepers carrying (or not) the deployment's marker in their
command line, the way QEMU and vde_switch carry it; no VM is needed to prove what stop kills.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.deploy import stop_deployment
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState
from nxc.flavours.common import processes
from tests.vm.conftest import nxc


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start sleepers with ``spawn(*extra_args)``; all are killed (by pid) at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()


def spawn(started: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", *args], start_new_session=True
    )
    started.append(process)
    return process


def alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def fake_deployment(tmp_path: Path, marker: str, node_pids: list[int], switch_pid: int):
    """A running vm record whose resources point at real folders, sockets and processes."""
    store = DeploymentStore(tmp_path / "deploy")
    run_dir = processes.make_run_dir(marker)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(run_dir / "node1.qmp"))
    secrets = store.secret_dir("fake::vm") / "nodes"
    secrets.mkdir()
    (secrets / "node1.host_key").write_text("private")
    nodes = [
        Node(f"node{i + 1}", "node", f"10.9.0.{i + 1}", "127.0.0.1", 22000 + i, pid=pid,
             state=NodeState.ready)
        for i, pid in enumerate(node_pids)
    ]  # fmt: skip
    deployment = Deployment(
        "fake",
        "vm",
        nodes=nodes,
        state=DeploymentState.running,
        resources={
            "marker": marker,
            "run_dir": str(run_dir),
            "secret_dir": str(secrets),
            "switch": {"pid": switch_pid, "pidfile": str(run_dir / "switch.pid")},
        },
    )
    store.save(deployment)
    return store, deployment, run_dir, secrets


def test_stop_kills_exactly_the_marked_processes_and_is_idempotent(
    tmp_path: Path, sleepers: list
) -> None:
    marker = processes.new_marker()
    node_a, node_b = spawn(sleepers, marker), spawn(sleepers, marker)
    switch = spawn(sleepers, f"--sock={processes.runtime_root() / marker / 'switch'}")
    unrecorded = spawn(sleepers, marker)  # launched just before a SIGKILL of 'nxc start'
    stranger = spawn(sleepers, "not-ours")  # a recycled pid: recorded, but someone else's
    store, _, run_dir, secrets = fake_deployment(
        tmp_path, marker, [node_a.pid, node_b.pid, stranger.pid], switch.pid
    )

    stopped = stop_deployment(store, "fake::vm")
    for process in (node_a, node_b, switch, unrecorded):
        process.wait(timeout=10)
    assert alive(stranger)
    assert not run_dir.exists() and not secrets.exists()
    assert not store.lock_path("fake::vm").exists()
    assert stopped.state is DeploymentState.stopped
    record = store.load("fake::vm")
    assert record.state is DeploymentState.stopped
    assert {node.state for node in record.nodes} == {NodeState.stopped}
    assert processes.find_marked(marker) == []

    stop_deployment(store, "fake::vm")  # twice in a row: nothing left, nothing fails
    assert alive(stranger)
    assert store.load("fake::vm").state is DeploymentState.stopped


MARKER_PID = processes.new_marker()


def test_pid_checks_read_the_command_line(sleepers: list) -> None:
    ours = spawn(sleepers, MARKER_PID)
    other = spawn(sleepers, "something-else")
    assert processes.is_ours(ours.pid, MARKER_PID)
    assert not processes.is_ours(other.pid, MARKER_PID)
    assert not processes.is_ours(None, MARKER_PID)
    assert not processes.is_ours(ours.pid, "")
    assert processes.find_marked(MARKER_PID) == [ours.pid]
    signalled = processes.terminate([ours.pid, other.pid], MARKER_PID, grace=0.0)
    assert signalled == [ours.pid]
    assert not Path(f"/proc/{ours.pid}").exists()  # killed and collected: no zombie left
    assert alive(other)
    assert not processes.is_ours(ours.pid, MARKER_PID)


def test_stop_through_the_cli(tmp_path: Path, sleepers: list) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    marker = processes.new_marker()
    node = spawn(sleepers, marker)
    fake_deployment(tmp_path, marker, [node.pid], 0)
    for _ in range(2):
        result = nxc("stop", "fake::vm", cwd=tmp_path, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "stopped fake::vm" in result.stdout
    node.wait(timeout=10)

    unknown = nxc("stop", "other::vm", cwd=tmp_path, timeout=60)
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "Traceback" not in unknown.stderr
    assert "other::vm" in unknown.stderr and "nxc status" in unknown.stderr


def test_stop_waits_for_a_running_start_unless_forced(tmp_path: Path, sleepers: list) -> None:
    from nxc.errors import DeploymentLockedError

    marker = processes.new_marker()
    node = spawn(sleepers, marker)
    store, *_ = fake_deployment(tmp_path, marker, [node.pid], 0)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from nxc.deployment import DeploymentStore;"
         "s = DeploymentStore(Path(sys.argv[1]))\nwith s.lock('fake::vm'):\n"
         "    print('locked', flush=True); time.sleep(60)",
         str(store.deploy_dir)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    sleepers.append(holder)  # type: ignore[arg-type]
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    impatient = DeploymentStore(store.deploy_dir, lock_timeout=0.5)
    with pytest.raises(DeploymentLockedError, match="nxc stop --force"):
        stop_deployment(impatient, "fake::vm")
    assert alive(node)
    stop_deployment(impatient, "fake::vm", force=True)
    node.wait(timeout=10)
