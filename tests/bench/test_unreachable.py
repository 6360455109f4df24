"""``nxc bench`` on nodes nothing answers for: named as unreachable, not as missing fio.

The nodes' SSH address is a local TCP port bound by the test but not listening, so the real
``ssh`` that execo runs is refused at once (nothing leaves this machine). The exit-code
decoding is checked against the wait statuses of real processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from nxc import keys
from nxc.bench.runner import exit_code
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections for as long as the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_unreachable_clients_are_named_as_such(tmp_path: Path, closed_port: int) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "flake.nix").write_text("{ outputs = _: { }; }\n")
    store = DeploymentStore(project / "deploy")
    deployment = Deployment("demo", "vm", state=DeploymentState.running)
    keys.ensure_client_key(store.client_key_path(deployment.name), "nxc:test")
    deployment.nodes = [
        Node(name, "client", f"10.0.0.{i}", "127.0.0.1", ssh_port=closed_port,
             host_key=keys.generate_keypair(name).public_line, state=NodeState.ready)
        for i, name in enumerate(["node1", "node2"], start=1)
    ]  # fmt: skip
    store.save(deployment)
    argv = [sys.executable, "-m", "nxc", "-d", str(project), "bench", "fio", "--dir", "/tmp/x"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "cannot reach node1, node2 over SSH" in done.stderr
    assert "not installed" not in done.stderr


def _status_of(command: str) -> int:
    """The raw wait status of a real shell running ``command``."""
    process = subprocess.Popen(["sh", "-c", command])
    return os.waitpid(process.pid, 0)[1]


@pytest.mark.parametrize(("command", "expected"), [("exit 255", 255), ("exit 1", 1), ("exit 0", 0)])
def test_exit_codes_are_decoded_from_wait_statuses_and_kept_when_decoded(
    command: str, expected: int
) -> None:
    raw = _status_of(command)
    assert exit_code(SimpleNamespace(exit_code=raw)) == expected
    assert exit_code(SimpleNamespace(exit_code=expected)) == expected
    assert exit_code(SimpleNamespace(exit_code=None)) is None
