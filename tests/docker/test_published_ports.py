"""NixOS-Compose's ``dockerPorts`` and ``extraVolumes`` on a private real engine with the
stand-in image: a node's SSH port published on the host, a host folder mounted read-only."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from nxc.deploy import start_deployment
from nxc.errors import ManifestError
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from nxc.transport.docker import DockerTransport
from tests.docker.conftest import ENTRYPOINT, DockerProject, Engine, engine_objects, write_manifest

pytestmark = pytest.mark.docker


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _project(docker_project: DockerProject, image: str, ports: list[str], volumes: list[str]):
    container = {"image": image, "command": [ENTRYPOINT], "ports": ports, "volumes": volumes}
    write_manifest(docker_project.manifest_path, image, container=container)
    return docker_project


def _start(project: DockerProject, cleanup: list, count: int):
    manifest = project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options([f"node={count}"]))
    cleanup.append((project.store, plan.deployment_name))
    return start_deployment(project.store, manifest, plan, DockerFlavour())


def test_published_port_and_extra_volume_reach_the_node(
    docker_project: DockerProject, docker_cleanup: list, standin_image: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "input.txt").write_text("from the host\n")
    port = _free_port()
    project = _project(
        docker_project, standin_image, [f"127.0.0.1:{port}:22"], [f"{data}:/data:ro"]
    )
    deployment = _start(project, docker_cleanup, 1)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        assert connection.recv(7) == b"SSH-2.0"
    with DockerTransport.for_deployment(deployment, project.store) as transport:
        assert transport.run_one("node1", "cat /data/input.txt").check().stdout == "from the host\n"
        assert transport.run_one("node1", "touch /data/new").exit_status != 0


def test_two_nodes_on_one_host_port_are_refused_before_anything_is_created(
    docker_project: DockerProject, docker_cleanup: list, standin_image: str, docker_host: Engine
) -> None:
    project = _project(docker_project, standin_image, [f"127.0.0.1:{_free_port()}:22"], [])
    with pytest.raises(ManifestError, match="node1 and node2 both publish host port"):
        _start(project, docker_cleanup, 2)
    assert engine_objects(docker_host, "testbed::docker")["containers"] == []
