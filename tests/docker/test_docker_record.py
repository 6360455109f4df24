"""The docker flavour's options and record sections, without an engine: options built from
keywords as the CLI and the Python API give them, records as earlier nxc versions wrote them
read and written back with the same keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node
from nxc.errors import DeploymentRecordError, InputError
from nxc.flavours import get_flavour
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.flavours.docker.options import DockerOptions
from nxc.flavours.docker.record import DockerNodeFacts, DockerResources, SubnetInUse
from nxc.record_section import node_facts_of, resources_of
from nxc.transport.docker import DockerTransport

RESOURCES = {
    "engine": "unix:///var/run/docker.sock",
    "marker": "nxc-0123456789ab",
    "subnet": 17,
    "network": {"name": "nxc-c.docker", "id": "f00d"},
    "containers": {"node1": "c0ffee"},
    "volumes": [],
    "secret_dir": "/home/u/.local/share/nxc/secrets/c::docker/nodes",
    "shared_dir": "/p/.nxc/deploy/c::docker/shared",
    "compose_file": "/p/.nxc/deploy/c::docker/docker-compose.yml",
    "log_dir": "/p/.nxc/deploy/c::docker/logs",
}
"""A docker deployment's resources as nxc writes them once its containers exist."""


def test_keywords_become_the_flavours_options() -> None:
    flavour = get_flavour("docker", timeout=30, engine="tcp://engine:2375")
    assert isinstance(flavour, DockerFlavour)
    assert flavour.options == DockerOptions(timeout=30, engine="tcp://engine:2375")
    assert flavour.ready_timeout(4) == 30
    assert DockerFlavour().ready_timeout(4) == 80.0


def test_bad_options_are_refused_naming_the_option() -> None:
    with pytest.raises(InputError, match=r"timeout.* 0 must be more than 0 seconds"):
        DockerOptions(timeout=0)
    with pytest.raises(InputError, match="does not apply to the docker flavour"):
        get_flavour("docker", memory="2G")


def test_a_record_reads_and_writes_back_the_same_keys() -> None:
    resources = DockerResources.from_record(RESOURCES)
    assert resources.network.id == "f00d" and resources.containers == {"node1": "c0ffee"}
    assert resources.log_dir == Path("/p/.nxc/deploy/c::docker/logs")
    assert resources.to_record() == RESOURCES
    extra = {"container_name": "nxc-c.docker-node1", "container_id": "c0ffee"}
    assert DockerNodeFacts.from_record(extra).to_record() == extra


def test_a_record_before_its_network_exists_reads_without_an_id() -> None:
    stored = RESOURCES | {"network": {"name": "nxc-c.docker", "id": None}, "containers": {}}
    resources = DockerResources.from_record(stored)
    assert resources.network.id is None and resources.network.name == "nxc-c.docker"


def test_a_wrong_value_is_a_corrupt_record_naming_the_key() -> None:
    node = Node("node1", "node", "10.17.0.1", "10.17.0.1", extra={"container_id": 7})
    deployment = Deployment("c", "docker", nodes=[node], resources=RESOURCES | {"containers": []})
    with pytest.raises(DeploymentRecordError, match=r"'resources.containers' must be"):
        resources_of(DockerResources, deployment)
    with pytest.raises(DeploymentRecordError, match=r"'nodes\[node1\].extra.container_id'"):
        node_facts_of(DockerNodeFacts, deployment, node)


def test_other_deployments_subnets_are_read_whatever_their_flavour() -> None:
    assert SubnetInUse.from_record({"subnet": 42, "switch": {"ports": 3}}).octet == 42
    assert SubnetInUse.from_record({"subnet": "42"}).octet is None
    assert SubnetInUse.from_record({}).octet is None


def test_a_stopped_deployment_has_no_transport(tmp_path: Path) -> None:
    node = Node("node1", "node", "10.17.0.1", "10.17.0.1", extra={"container_id": "c0ffee"})
    deployment = Deployment(
        "c", "docker", nodes=[node], resources=RESOURCES, state=DeploymentState.stopped
    )
    with pytest.raises(InputError, match="has no running containers"):
        DockerTransport.for_deployment(deployment, DeploymentStore(tmp_path / "deploy"))
