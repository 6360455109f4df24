"""Roles that wait for roles, through ``nxc start`` on a real Docker engine: the client is
activated only once the server's readiness check passes (issue 16 item 4).

The stand-in image's ``nxc-activate`` records when it ran (on NixOS it starts
``nxc-activate.target``: tests/nix/test_nixos_activation.py); the order, the waiting and the
record are nxc's own, for real.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from nxc.deploy import start_deployment, stop_deployment
from nxc.flavours.docker.containers import container_name
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.flavours.docker.options import DockerOptions
from nxc.journal import Journal, PhaseEvent
from nxc.manifest import load
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.docker.conftest import ENTRYPOINT, DockerProject, Engine, nxc

pytestmark = pytest.mark.docker

SERVER_DELAY = 3.0


def server_client_manifest(project: DockerProject, image: str) -> None:
    data = json.loads(project.manifest_path.read_text())
    composition = data["compositions"]["testbed"]
    node = composition["roles"].pop("node")
    composition["roles"] = {
        "server": {**node, "readiness": {"command": "test -e /tmp/server-up"}},
        "client": {**node, "after": ["server"]},
    }
    container = {"image": image, "command": [ENTRYPOINT]}
    composition["artefacts"]["containers"] = {"server": container, "client": container}
    project.manifest_path.write_text(json.dumps(data))


def exec_in(engine: Engine, container: str, command: str) -> str:
    api = engine.api()
    run = api.exec_create(container, ["/bin/sh", "-c", command])
    return api.exec_start(run["Id"]).decode()


def test_the_client_is_activated_once_the_server_is_ready(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine, standin_image: str
) -> None:
    server_client_manifest(docker_project, standin_image)
    manifest = load(docker_project.manifest_path)
    plan = plan_nodes(manifest, None, parse_role_options(["server=1", "client=2"]))
    docker_cleanup.append((docker_project.store, plan.deployment_name))
    made_ready: list[float] = []

    def server_up_later() -> None:
        name = container_name(plan.deployment_name, "server1")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if docker_host.api().containers(filters={"name": name}):
                time.sleep(SERVER_DELAY)
                made_ready.append(
                    float(exec_in(docker_host, name, "date +%s; touch /tmp/server-up"))
                )
                return
            time.sleep(0.2)

    helper = threading.Thread(target=server_up_later, daemon=True)
    helper.start()
    deployment = start_deployment(
        docker_project.store, manifest, plan, DockerFlavour(DockerOptions(timeout=120))
    )
    helper.join(timeout=10)
    assert made_ready, "the server's readiness was never made true"

    containers = {node.hostname: node.extra["container_id"] for node in deployment.nodes}
    for client in ("client1", "client2"):
        activated = float(exec_in(docker_host, containers[client], "cat /run/nxc/activated"))
        assert activated >= made_ready[0]
    assert "No such file" in exec_in(docker_host, containers["server1"], "cat /run/nxc/activated")
    record = docker_project.store.load(deployment.name)
    assert record.activation["server"]["activated_at"] is None
    assert record.activation["client"]["activated_at"] >= record.activation["server"]["ready_at"]
    phases = [e.name for e in Journal(docker_project.store, deployment.name).events()
              if isinstance(e, PhaseEvent)]  # fmt: skip
    assert phases == ["allocate", "prepare", "boot", "activate"]
    status = nxc("status", deployment.name, cwd=docker_project.root)
    assert "role server: at boot, ready at" in status.stdout
    assert "role client: activated at" in status.stdout
    stop_deployment(docker_project.store, deployment.name)
