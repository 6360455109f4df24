"""The docker flavour through the real CLI only: ``nxc start -f docker``, ``status --live``,
``run``, ``driver``, ``stop``, each in a subprocess talking to the private engine through
``DOCKER_HOST`` (stand-in image for the NixOS container system, see conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nxc.deployment import DeploymentState
from tests.docker.conftest import DockerProject, Engine, engine_objects, nxc

pytestmark = pytest.mark.docker

NAME = "testbed::docker"
NOTHING = {"containers": [], "networks": [], "volumes": []}
HOSTNAMES = ["node1", "node2", "node3"]

DRIVER_SCRIPT = """\
start_all()
for m in machines:
    t.assertEqual(m.succeed("hostname").strip(), m.name)
for m in machines:
    for other in machines:
        if other is not m:
            m.succeed(f"ping -c1 -W2 {other.name}")
"""


def engine_env(engine: Engine) -> dict[str, str]:
    return {"DOCKER_HOST": engine.url}


def live_states(stdout: str) -> dict[str, str]:
    """Node name → last column of ``nxc status NAME --live`` (after its two header lines)."""
    return {line.split()[0]: line.split()[-1] for line in stdout.splitlines()[2:] if line.strip()}


@pytest.fixture
def cli_cleanup(docker_project: DockerProject, docker_engine: Engine):
    """``nxc stop --force`` through the CLI after the test, whatever happened in it."""
    yield
    if docker_project.store.exists(NAME):
        nxc("stop", "--force", NAME, cwd=docker_project.root, env=engine_env(docker_engine))


def test_start_status_run_driver_stop_through_the_cli(
    docker_project: DockerProject, docker_host: Engine, cli_cleanup: None
) -> None:
    root, env = docker_project.root, engine_env(docker_host)
    manifest = str(docker_project.manifest_path)

    began = time.monotonic()
    start = nxc("start", "-f", "docker", "-r", "node=3", "--manifest", manifest, cwd=root, env=env)
    started_in = time.monotonic() - began
    assert start.returncode == 0, start.stdout + start.stderr
    assert "Traceback" not in start.stderr
    containers = docker_host.api().containers(filters={"label": [f"nxc.deployment={NAME}"]})
    assert sorted(c["Labels"]["nxc.node"] for c in containers) == HOSTNAMES

    status = nxc("status", NAME, "--live", cwd=root, env=env)
    assert status.returncode == 0, status.stderr
    assert live_states(status.stdout) == dict.fromkeys(HOSTNAMES, "ready"), status.stdout

    run = nxc("run", "--", "hostname", cwd=root, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    printed = sorted(line.split()[-1] for line in run.stdout.splitlines() if line.strip())
    assert printed == HOSTNAMES, run.stdout
    for hostname in HOSTNAMES:
        assert any(
            line.startswith(hostname) and line.endswith(hostname)
            for line in run.stdout.splitlines()
        ), run.stdout

    script = root / "ping_each_other.py"
    script.write_text(DRIVER_SCRIPT)
    driver = nxc("driver", str(script), cwd=root, env=env)
    assert driver.returncode == 0, driver.stdout + driver.stderr

    failing = root / "fails.py"
    failing.write_text("start_all()\nnode2.succeed('ping -c1 -W1 node9')\n")
    refused = nxc("driver", str(failing), cwd=root, env=env)
    assert refused.returncode == 1, refused.stdout + refused.stderr

    stop = nxc("stop", cwd=root, env=env)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert engine_objects(docker_host, NAME) == NOTHING
    assert docker_project.store.load(NAME).state is DeploymentState.stopped
    again = nxc("stop", cwd=root, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    assert engine_objects(docker_host, NAME) == NOTHING
    print(f"nxc start -f docker -r node=3: {started_in:.1f} s")


def test_engine_not_running_one_line_says_how_to_start_it_nothing_left(
    docker_project: DockerProject, docker_engine: Engine, cli_cleanup: None
) -> None:
    root = docker_project.root
    missing = f"unix://{root}/no-engine.sock"
    result = nxc(
        "start",
        "-f",
        "docker",
        "-r",
        "node=3",
        "--manifest",
        str(docker_project.manifest_path),
        cwd=root,
        env={"DOCKER_HOST": missing},
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no-engine.sock does not answer" in lines[0], lines[0]
    assert "start it" in lines[0] and "dockerd" in lines[0] and "DOCKER_HOST" in lines[0]
    assert "Traceback" not in result.stderr
    assert engine_objects(docker_engine, NAME) == NOTHING
    assert not Path(root / "no-engine.sock").exists()
    assert docker_project.store.load(NAME).state is DeploymentState.failed
    status = nxc("status", cwd=root, env={"DOCKER_HOST": missing})
    assert status.returncode == 0 and "failed" in status.stdout, status.stdout + status.stderr


def test_vm_only_option_with_docker_flavour_exits_2(
    docker_project: DockerProject, docker_host: Engine
) -> None:
    root = docker_project.root
    result = nxc(
        "start",
        "-f",
        "docker",
        "-r",
        "node=3",
        "--memory",
        "512M",
        "--manifest",
        str(docker_project.manifest_path),
        cwd=root,
        env=engine_env(docker_host),
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--memory" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert engine_objects(docker_host, NAME) == NOTHING
    assert not docker_project.store.exists(NAME)
