"""``nxc status`` and ``nxc clean`` through the real command line (a subprocess each)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState
from nxc.flavours.names import FLAVOUR_NAMES


def nxc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def tree(folder: Path) -> list[tuple[str, bytes | None]]:
    """Everything under ``folder`` with file contents: proves nothing was written."""
    return sorted(
        (str(p.relative_to(folder)), p.read_bytes() if p.is_file() else None)
        for p in folder.rglob("*")
    )


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "flake.nix").write_text("{ outputs = { self }: { }; }\n")
    return root


def record(root: Path, composition: str, flavour: str, state: str, count: int = 2, **kw):
    nodes = [
        Node(f"node{i}", "server" if i == 1 else "client", f"10.0.0.{i}", "127.0.0.1", 2200 + i)
        for i in range(1, count + 1)
    ]
    deployment = Deployment(composition, flavour, nodes=nodes, state=DeploymentState(state), **kw)
    DeploymentStore(root / "deploy").save(deployment)
    return deployment


def test_status_lists_deployments_oldest_first(project):
    record(project, "web", "docker", "stopped", count=1, created_at=2_000_000_000.0)
    record(project, "composition", "vm", "running", count=3, created_at=1_700_000_000.0)
    result = nxc(project, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "FLAVOUR", "STATE", "NODES", "CREATED"]
    assert lines[1].split()[:4] == ["composition::vm", "vm", "running", "3"]
    assert lines[2].split()[:4] == ["web::docker", "docker", "stopped", "1"]
    assert len(lines) == 3


def test_status_of_one_deployment_shows_nodes_and_roles(project):
    deployment = record(project, "composition", "vm", "running", count=3)
    store = DeploymentStore(project / "deploy")
    with store.edit(deployment.name) as stored:
        stored.node("node2").state = NodeState.ready
    result = nxc(project, "status", "composition::vm")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("composition::vm: running, flavour vm, roles server=1, client=2")
    assert lines[1].split() == ["HOSTNAME", "ROLE", "ADDRESS", "SSH", "STATE"]
    assert lines[3].split() == ["node2", "client", "10.0.0.2", "127.0.0.1:2202", "ready"]
    assert len(lines) == 5


def test_status_on_a_terminal_uses_a_rich_table(project):
    """stdout on a pseudo-terminal: the rich rendering (imported only then) shows the same."""
    import os
    import pty

    record(project, "composition", "vm", "running", count=2)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "nxc", "status", "composition::vm"],
            cwd=project,
            stdout=terminal,
            stderr=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
        )
        os.close(terminal)
        terminal = -1
        output = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    text = output.decode()
    assert "HOSTNAME" in text
    assert "127.0.0.1:2202" in text
    assert "\x1b[" in text  # styled by rich, not the plain columns


def test_status_json(project):
    record(project, "composition", "vm", "running")
    listing = json.loads(nxc(project, "status", "--json").stdout)
    assert [d["composition"] for d in listing] == ["composition"]
    one = json.loads(nxc(project, "status", "--json", "composition::vm").stdout)
    assert one["nxc_deployment"] == 1
    assert [n["hostname"] for n in one["nodes"]] == ["node1", "node2"]


def test_status_from_a_subfolder_and_with_envdir(project, tmp_path):
    record(project, "composition", "vm", "running")
    sub = project / "roles"
    sub.mkdir()
    assert "composition::vm" in nxc(sub, "status").stdout
    assert "composition::vm" in nxc(tmp_path, "-d", "proj", "status").stdout


def test_status_with_no_deployment_writes_nothing(project):
    result = nxc(project, "status")
    assert result.returncode == 0
    assert result.stdout.strip() == f"no deployment recorded in {project / 'deploy'}"
    assert tree(project) == [("flake.nix", b"{ outputs = { self }: { }; }\n")]


def test_status_live_asks_the_flavour(project, processes_started):
    """The vm flavour's real probe: node1's pid is a live process carrying the deployment's
    marker (SSH refused: 'running'), node2's process is gone ('dead')."""
    marker = "nxc-test-marker-status"
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker])
    processes_started.append(alive)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    deployment = record(project, "composition", "vm", "running", resources={"marker": marker})
    store = DeploymentStore(project / "deploy")
    with store.edit(deployment.name) as stored:
        stored.node("node1").pid = alive.pid
        stored.node("node1").ssh_port = free_port()
        stored.node("node2").pid = gone.pid
    result = nxc(project, "status", "--live", "composition::vm")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[-2:] == ["STATE", "LIVE"]
    assert lines[2].split()[-1] == "running"
    assert lines[3].split()[-1] == "dead"


def test_status_live_for_a_flavour_nxc_cannot_probe(project):
    record(project, "composition", "retired", "running")
    result = nxc(project, "status", "--live", "composition::retired")
    assert result.returncode == 0, result.stderr
    assert "cannot probe flavour 'retired'" in result.stderr
    assert result.stdout.splitlines()[1].split()[-1] == "STATE"


def test_status_live_of_a_stopped_deployment_shows_dead_nodes(project):
    record(project, "composition", "vm", "stopped")
    lines = nxc(project, "status", "-l", "composition::vm").stdout.splitlines()
    assert [line.split()[-1] for line in lines[1:]] == ["LIVE", "dead", "dead"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def processes_started():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=30)


# --- bad input: exit 2, one line, nothing written --------------------------------------------


def test_status_without_a_project(tmp_path):
    before = tree(tmp_path)
    message = assert_one_line_error(nxc(tmp_path, "status"), str(tmp_path), "nxc init")
    assert message.startswith("nxc: error: no nxc project here")
    assert tree(tmp_path) == before


def test_envdir_that_does_not_exist(tmp_path):
    assert_one_line_error(nxc(tmp_path, "-d", "nowhere", "clean"), "-d/--envdir nowhere")
    assert tree(tmp_path) == []


def test_broken_nxc_json(project):
    (project / "nxc.json").write_text('{"composition": "composition.nix",,}')
    before = tree(project)
    assert_one_line_error(nxc(project, "status"), f"{project / 'nxc.json'}:1:35", "not valid JSON")
    assert_one_line_error(nxc(project, "clean"), "not valid JSON")
    assert tree(project) == before


def test_unknown_flavour_in_nxc_json(project):
    (project / "nxc.json").write_text('{"default_flavour": "nixos-tst"}')
    before = tree(project)
    message = assert_one_line_error(nxc(project, "status"), "unknown flavour 'nixos-tst'")
    assert all(name in message for name in FLAVOUR_NAMES)
    assert tree(project) == before


def test_status_of_an_unknown_deployment(project):
    record(project, "composition", "vm", "running")
    before = tree(project)
    assert_one_line_error(
        nxc(project, "status", "other::vm"), "no deployment 'other::vm'", "composition::vm"
    )
    assert_one_line_error(nxc(project, "status", "a/b::vm"), "invalid deployment composition")
    assert_one_line_error(nxc(project, "status", "justaname"), "invalid deployment name")
    assert tree(project) == before


@pytest.mark.parametrize("args", [["status"], ["status", "composition::vm"], ["clean"]])
def test_corrupted_record(project, args):
    record(project, "composition", "vm", "running")
    path = project / "deploy" / "composition::vm.json"
    path.write_text(path.read_text().replace('"nodes"', '"nodez"'))
    before = tree(project)
    assert_one_line_error(
        nxc(project, *args), str(path), "missing key 'nodes'", "fix or delete the file"
    )
    assert tree(project) == before


def test_debug_shows_the_traceback(tmp_path):
    result = nxc(tmp_path, "--debug", "status")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


# --- clean -----------------------------------------------------------------------------------


def test_clean_removes_working_folders_only(project):
    record(project, "composition", "vm", "stopped")
    (project / "build").mkdir()
    (project / "build" / "composition::vm.json").write_text("{}")
    (project / "artifact").mkdir()
    (project / "composition.nix").write_text("{ }")
    result = nxc(project, "clean")
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(
        f"removed {project / name}" for name in ("build", "deploy", "artifact")
    )
    assert sorted(p.name for p in project.iterdir()) == ["composition.nix", "flake.nix"]
    again = nxc(project, "clean")
    assert again.stdout.strip() == f"nothing to clean in {project}"


def test_clean_refuses_while_running_then_force(project):
    record(project, "composition", "vm", "running")
    record(project, "composition", "docker", "starting")
    (project / "build").mkdir()
    before = tree(project)
    message = assert_one_line_error(
        nxc(project, "clean"), "composition::vm (running)", "composition::docker (starting)"
    )
    assert "nxc stop" in message
    assert tree(project) == before
    forced = nxc(project, "clean", "--force")
    assert forced.returncode == 0, forced.stderr
    assert not (project / "deploy").exists()
    assert not (project / "build").exists()


def test_command_run_from_a_removed_folder(project):
    """E.g. after 'nxc clean' from inside build/: one line saying to cd, no traceback."""
    gone = project / "build"
    gone.mkdir()
    script = f'cd "{gone}" && rmdir "{gone}" && exec "{sys.executable}" -m nxc status'
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert_one_line_error(result, "the current folder no longer exists", "-d/--envdir")


@pytest.fixture
def undeletable_file(project):
    """A file even root cannot delete (immutable attribute), made deletable again afterwards."""
    chattr = shutil.which("chattr")
    locked = project / "artifact" / "locked"
    locked.parent.mkdir()
    locked.write_text("x")
    if chattr is None or subprocess.run([chattr, "+i", str(locked)]).returncode != 0:
        pytest.skip("needs chattr and a file system with the immutable attribute")
    yield locked
    subprocess.run([chattr, "-i", str(locked)], check=True)


def test_clean_that_cannot_remove_a_file_names_it(project, undeletable_file):
    result = nxc(project, "clean")
    line = assert_one_line_error(result, f"cannot remove {undeletable_file.parent} (", "again")
    assert "locked: Operation not permitted" in line
    assert undeletable_file.exists()
