"""Bad input and failures of the docker flavour: each refused with one line saying what to do,
nothing left behind in the engine, the record marked failed (real engine, real CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.cli.flags import FLAGS
from nxc.deploy import start_deployment
from nxc.deployment import DeploymentState
from nxc.errors import ExternalCommandError, InputError, ManifestError, NodeTimeoutError
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.flavours.docker.options import DockerOptions
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.docker.conftest import ENTRYPOINT, DockerProject, Engine, engine_objects, write_manifest

pytestmark = pytest.mark.docker

NOTHING = {"containers": [], "networks": [], "volumes": []}


def start(project: DockerProject, cleanup: list, count: int = 2, **options):
    manifest = project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options([f"node={count}"]))
    cleanup.append((project.store, plan.deployment_name))
    return start_deployment(project.store, manifest, plan, DockerFlavour(DockerOptions(**options)))


def with_command(project: DockerProject, image: str, command: list[str]) -> None:
    data = json.loads(project.manifest_path.read_text())
    data["compositions"]["testbed"]["artefacts"]["containers"]["node"] = {
        "image": image,
        "command": command,
    }
    project.manifest_path.write_text(json.dumps(data))


def test_engine_not_running_says_how_to_start_it(
    docker_project: DockerProject, docker_cleanup: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{docker_project.root}/no-engine.sock")
    with pytest.raises(InputError) as caught:
        start(docker_project, docker_cleanup)
    message = str(caught.value)
    assert "does not answer" in message and "no-engine.sock" in message
    assert "dockerd" in message and "DOCKER_HOST" in message
    assert "\n" not in message
    assert docker_project.store.load("testbed::docker").state is DeploymentState.failed


def test_stop_through_the_cli_with_the_engine_gone_exits_2_with_one_line(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    deployment = start(docker_project, docker_cleanup, 1)
    record = docker_project.store.path_for(deployment.name)
    data = json.loads(record.read_text())
    real_engine = data["resources"]["engine"]
    data["resources"]["engine"] = f"unix://{docker_project.root}/gone.sock"
    record.write_text(json.dumps(data))
    env = {**os.environ, "DOCKER_HOST": docker_host.url}
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "stop", deployment.name],
        cwd=docker_project.root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "gone.sock does not answer" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    data["resources"]["engine"] = real_engine
    data["state"] = "stopping"
    record.write_text(json.dumps(data))
    rerun = subprocess.run(
        [sys.executable, "-m", "nxc", "stop", deployment.name],
        cwd=docker_project.root,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert engine_objects(docker_host, deployment.name) == NOTHING


def test_missing_image_is_named_with_the_manifest(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    write_manifest(docker_project.manifest_path, "nxc-no-such-image:1")
    with pytest.raises(ManifestError) as caught:
        start(docker_project, docker_cleanup)
    message = str(caught.value)
    assert str(docker_project.manifest_path) in message
    assert "'nxc-no-such-image:1' of role node is not in the Docker engine" in message
    assert "docker load" in message
    assert engine_objects(docker_host, "testbed::docker") == NOTHING


def test_name_clash_with_an_existing_container_is_refused_and_left_alone(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine, standin_image: str
) -> None:
    api = docker_host.api()
    foreign = api.create_container(standin_image, name="nxc-testbed.docker-node2")["Id"]
    try:
        with pytest.raises(InputError) as caught:
            start(docker_project, docker_cleanup)
        message = str(caught.value)
        assert "a container named nxc-testbed.docker-node2 already exists" in message
        assert "not created by nxc" in message
        assert "docker rm -f nxc-testbed.docker-node2" in message and "--tag" in message
        assert api.inspect_container(foreign)["Id"] == foreign  # untouched
        assert engine_objects(docker_host, "testbed::docker") == NOTHING
    finally:
        api.remove_container(foreign, force=True)


def test_manifest_of_another_flavour_is_refused(
    docker_project: DockerProject, docker_cleanup: list
) -> None:
    data = json.loads(docker_project.manifest_path.read_text())
    data["flavour"] = "vm"
    docker_project.manifest_path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="built for flavour 'vm', not 'docker'"):
        start(docker_project, docker_cleanup)


def test_nixos_system_entry_that_is_not_there_says_rebuild(
    docker_project: DockerProject, docker_cleanup: list, tmp_path: Path
) -> None:
    data = json.loads(docker_project.manifest_path.read_text())
    system = str(tmp_path / "missing-system")
    data["compositions"]["testbed"]["artefacts"]["containers"]["node"] = system
    docker_project.manifest_path.write_text(json.dumps(data))
    with pytest.raises(
        ManifestError, match=r"missing-system/init does not exist.*nxc build -f docker"
    ):
        start(docker_project, docker_cleanup)


def test_timeout_names_the_containers_with_their_last_log_lines(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine, standin_image: str
) -> None:
    with_command(
        docker_project, standin_image, ["sh", "-c", "echo stuck-in-boot-$(hostname); sleep 600"]
    )
    with pytest.raises(NodeTimeoutError) as caught:
        start(docker_project, docker_cleanup, 2, timeout=3)
    message = str(caught.value)
    assert caught.value.missing == ["node1", "node2"]
    assert "2 node(s) of testbed::docker were not ready within 3 s: node1, node2" in message
    assert "last log lines of nxc-testbed.docker-node1" in message
    assert "stuck-in-boot-node1" in message and "stuck-in-boot-node2" in message
    assert "raise the wait with timeout" in message
    assert "raise the wait with --timeout" in caught.value.render(FLAGS)  # nxc start's words
    assert engine_objects(docker_host, "testbed::docker") == NOTHING
    logs = docker_project.store.log_dir("testbed::docker")
    assert "stuck-in-boot-node1" in (logs / "node1.console.log").read_text()


def test_container_that_exits_during_boot_is_reported_with_its_log(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine, standin_image: str
) -> None:
    with_command(docker_project, standin_image, ["sh", "-c", "echo cannot-boot; exit 3"])
    with pytest.raises(ExternalCommandError) as caught:
        start(docker_project, docker_cleanup, 1)
    message = str(caught.value)
    assert "container nxc-testbed.docker-node1 of node1 stopped (exit code 3)" in message
    assert "cannot-boot" in message
    assert engine_objects(docker_host, "testbed::docker") == NOTHING


def test_stand_in_without_deployment_info_fails_with_the_contract_error(
    docker_host: Engine, standin_image: str
) -> None:
    """The stand-in entry point itself follows the contract's failure line."""
    api = docker_host.api()
    container = api.create_container(standin_image, command=[ENTRYPOINT])["Id"]
    try:
        api.start(container)
        assert api.wait(container, timeout=60)["StatusCode"] == 1
        assert b"nxc-error: no deployment info at /etc/nxc/info.json" in api.logs(container)
    finally:
        api.remove_container(container, force=True)
