"""``nxc run`` end to end: a deployment record pointing at namespace hosts with real sshd."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore
from tests.recorded import recorded_project

ROLES = ["server", "client", "client", "client"]


@dataclass
class Project:
    root: Path
    store: DeploymentStore
    deployment: Deployment


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """A project whose recorded deployment (flavour vm) is four namespace hosts."""
    root = tmp_path_factory.mktemp("project")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ROLES, tag="ns"):
        store = DeploymentStore(root / "deploy")
        yield Project(root, store, store.load("demo::vm::ns"))


def nxc(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nxc", "-d", str(project.root), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_runs_on_a_role_with_prefixed_lines(project: Project) -> None:
    done = nxc(project, "run", "-r", "client", "--", "echo", "I am", "$(hostname)")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == [
        "node2 | I am node2",
        "node3 | I am node3",
        "node4 | I am node4",
    ]
    assert done.stderr == ""


def test_failures_are_summed_up_with_exit_code_1(project: Project) -> None:
    command = "case $(hostname) in node1|node3) echo broken >&2; exit 7;; esac; echo ok"
    done = nxc(project, "run", "--tag", "ns", "--", command)
    assert done.returncode == 1
    assert sorted(done.stdout.splitlines()) == ["node2 | ok", "node4 | ok"]
    assert "node1 | broken" in done.stderr.splitlines()
    assert "node3 | broken" in done.stderr.splitlines()
    assert done.stderr.splitlines()[-1] == (
        "nxc: 2/4 failed: node1 (exit status 7), node3 (exit status 7)"
    )


def test_hosts_by_name_and_timeout(project: Project) -> None:
    done = nxc(
        project,
        "run",
        "--name",
        "demo::vm::ns",
        "--timeout",
        "1",
        "node1",
        "node4",
        "--",
        "sleep 20",
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "nxc: 2/2 failed: node1 (timed out after 1 s), node4 (timed out after 1 s)"
    )


def test_an_unreachable_node_is_reported_not_fatal(project: Project) -> None:
    record = project.store.load(project.deployment.name)
    record.nodes[1].ssh_port = 1  # nothing listens there
    broken = Deployment("demo", "vm", "broken", record.nodes, state=DeploymentState.running)
    project.store.save(broken)
    key = project.store.client_key_path(project.deployment.name)
    shutil.copy(key, project.store.client_key_path(broken.name))
    try:
        done = nxc(project, "run", "--name", "demo::vm::broken", "--", "hostname")
    finally:
        project.store.remove(broken.name)
    assert done.returncode == 1
    assert sorted(done.stdout.splitlines()) == ["node1 | node1", "node3 | node3", "node4 | node4"]
    assert "node2 | nxc: cannot connect to node2" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-r", "client", "uptime"], "give the command after '--'"),
        (
            ["run", "-r", "db", "--", "uptime"],
            "no role db in this deployment; roles: client, server",
        ),
        (["run", "node9", "--", "uptime"], "no node node9 in this deployment"),
        (["run", "--name", "x::vm", "--tag", "t", "--", "true"], "--name and --tag"),
        (["run", "--tag", "nope", "--", "true"], "--tag nope: no deployment with that tag"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project: Project, args: list[str], message: str) -> None:
    done = nxc(project, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr
