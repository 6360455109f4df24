"""The role system's closure registration reaches docker nodes: bound read-only at
/etc/nxc/registration, where flavours/docker.nix's stage 2 loads it over a writable store
(the loading itself needs NixOS: tests/nix/test_nixos_boot_paths.py). Real private engine,
the stand-in image in place of a NixOS container system (which cannot be built here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nxc.deploy import start_deployment
from nxc.errors import ManifestError
from nxc.flavours.docker.containers import REGISTRATION_PATH
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from nxc.transport.docker import DockerTransport
from tests.docker.conftest import ENTRYPOINT, DockerProject, Engine, write_manifest

pytestmark = pytest.mark.docker


def _start(project: DockerProject, cleanup: list, registration: Path):
    container = {"image": "", "command": [ENTRYPOINT], "registration": str(registration)}
    manifest = project.manifest()
    image = manifest.composition().artefacts.containers["node"]["image"]  # type: ignore[index]
    write_manifest(project.manifest_path, image, container=container | {"image": image})
    manifest = project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options(["node=1"]))
    cleanup.append((project.store, plan.deployment_name))
    return start_deployment(project.store, manifest, plan, DockerFlavour())


def test_registration_is_bound_read_only_into_the_node(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine, tmp_path: Path
) -> None:
    registration = tmp_path / "registration"
    registration.write_text("/nix/store/00000000000000000000000000000000-role-node\n\n\n0\n0\n")
    deployment = _start(docker_project, docker_cleanup, registration)
    with DockerTransport.for_deployment(deployment, docker_project.store) as transport:
        seen = transport.run_one("node1", f"cat {REGISTRATION_PATH}").check().stdout
        assert seen == registration.read_text()
        assert transport.run_one("node1", f"echo x >> {REGISTRATION_PATH}").exit_status != 0
    assert registration.read_text().count("\n") == 5
    [node] = deployment.nodes
    live = docker_host.api().inspect_container(node.extra["container_id"])
    mounts = {m["Destination"]: (m["Source"], m["RW"]) for m in live["Mounts"]}
    assert mounts[REGISTRATION_PATH] == (str(registration), False)
    compose = yaml.safe_load(Path(deployment.resources["compose_file"]).read_text())
    volumes = compose["services"]["node1"]["volumes"]
    assert {"type": "bind", "source": str(registration), "target": REGISTRATION_PATH,
            "read_only": True} in volumes  # fmt: skip


def test_a_registration_that_is_gone_says_rebuild(
    docker_project: DockerProject, docker_cleanup: list, tmp_path: Path
) -> None:
    with pytest.raises(ManifestError, match=r"registration .* does not exist.*nxc build -f docker"):
        _start(docker_project, docker_cleanup, tmp_path / "collected")
