"""``nxc status`` on records the real CLI reads: a dead ``nxc start`` is named, with what to
run; nodes not placed yet show no SSH port. The dead starter is a real process, reaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, process_identity
from tests.unit.test_starter_identity import dead_identity


def nxc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    return tmp_path


def save(root: Path, started_by: dict[str, int] | None) -> None:
    planned = [Node("node1", "node", "", ""), Node("node2", "node", "10.0.0.2", "127.0.0.1", 2202)]
    record = Deployment(
        "comp", "vm", nodes=planned, state=DeploymentState.starting, started_by=started_by
    )
    DeploymentStore(root / "deploy").save(record)


def test_status_says_the_starting_process_is_gone_and_what_to_run(project: Path) -> None:
    identity = dead_identity()
    save(project, identity)
    listing = nxc(project, "status")
    assert listing.returncode == 0, listing.stderr
    assert "starting (process gone)" in listing.stdout
    note = f"(pid {identity['pid']}) is gone; clean up what it left with 'nxc stop comp::vm'"
    assert note in listing.stderr
    one = nxc(project, "status", "comp::vm")
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("comp::vm: starting (process gone),")
    assert note in one.stderr


def test_a_live_starter_is_plain_starting(project: Path) -> None:
    save(project, process_identity())  # this test process stands for the running nxc start
    listing = nxc(project, "status")
    assert "process gone" not in listing.stdout + listing.stderr
    assert " starting " in listing.stdout


def test_nodes_not_placed_yet_show_no_ssh_port(project: Path) -> None:
    save(project, process_identity())
    rows = nxc(project, "status", "comp::vm").stdout.splitlines()
    node1 = next(row.split() for row in rows if row.startswith("node1"))
    node2 = next(row.split() for row in rows if row.startswith("node2"))
    assert node1 == ["node1", "node", "-", "-", "planned"]
    assert node2[3] == "127.0.0.1:2202"
