"""``nxc connect`` end to end: a recorded deployment of namespace hosts with real sshd, a real
tmux server (on a private socket folder), panes read back with capture-pane."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import libtmux
import pytest

from tests.recorded import recorded_project

ROLES = ["server", "client", "client"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose latest deployment is three namespace hosts running sshd."""
    root = tmp_path_factory.mktemp("project")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ROLES, tag=None) as project:
        yield project


@pytest.fixture
def tmux_dir(tmp_path: Path) -> Iterator[Path]:
    """A private TMUX_TMPDIR, so the test's tmux server is its own; killed at the end."""
    folder = tmp_path / "tmux"
    folder.mkdir()
    yield folder
    subprocess.run(
        ["tmux", "kill-server"],
        env={**os.environ, "TMUX_TMPDIR": str(folder)},
        capture_output=True,
        check=False,
    )


def nxc(root: Path, tmux_dir: Path, *args: str, stdin: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    env["TMUX_TMPDIR"] = str(tmux_dir)
    return subprocess.run(
        [sys.executable, "-m", "nxc", "-d", str(root), "connect", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        input=stdin,
    )


def pane_texts(tmux_dir: Path, session: str, expect: str, timeout: float = 30) -> list[str]:
    server = libtmux.Server(socket_path=str(tmux_dir / f"tmux-{os.geteuid()}" / "default"))
    deadline = time.monotonic() + timeout
    while True:
        texts = [
            "\n".join(pane.capture_pane())
            for window in server.sessions.get(session_name=session).windows
            for pane in window.panes
        ]
        if all(expect in text for text in texts) or time.monotonic() > deadline:
            return texts
        time.sleep(0.2)


def test_one_pane_per_node_of_a_role_each_logged_into_its_node(project, tmux_dir):
    done = nxc(
        project,
        tmux_dir,
        "-r",
        "client",
        "--no-attach",
        "--session",
        "t1",
        "--send",
        "echo I-am-$(hostname)",
    )
    assert done.returncode == 0, done.stderr
    assert "2 node(s)" in done.stdout
    texts = pane_texts(tmux_dir, "t1", "I-am-node")
    assert len(texts) == 2
    assert any("I-am-node2" in text for text in texts), texts
    assert any("I-am-node3" in text for text in texts), texts


def test_all_nodes_spread_over_windows_by_geometry(project, tmux_dir):
    done = nxc(
        project,
        tmux_dir,
        "--no-attach",
        "--session",
        "t2",
        "-g",
        "1x2",
        "--send",
        "echo I-am-$(hostname)",
    )
    assert done.returncode == 0, done.stderr
    texts = pane_texts(tmux_dir, "t2", "I-am-node")
    assert len(texts) == 3
    for index in (1, 2, 3):
        assert any(f"I-am-node{index}" in text for text in texts), texts


def test_single_host_runs_ssh_in_this_terminal(project, tmux_dir):
    done = nxc(project, tmux_dir, "node1", stdin="echo I-am-$(hostname)\nexit\n")
    assert done.returncode == 0, done.stderr
    assert "I-am-node1" in done.stdout


def test_unknown_host_is_one_clear_line(project, tmux_dir):
    done = nxc(project, tmux_dir, "node9")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "no node node9" in done.stderr
