"""``nxc stop`` of a docker record removes only what carries this deployment's labels.

A real private engine (tests/docker/conftest.py); the network stands in for every object a
record may name: stop inspects each recorded id before removing anything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.deploy import stop_deployment
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState
from nxc.errors import UnsafeRecordError
from nxc.flavours.common import processes


def _record(store: DeploymentStore, url: str, marker: object, network_id: str) -> None:
    node = Node("node1", "node", "10.9.0.1", "10.9.0.1", state=NodeState.ready)
    store.save(
        Deployment(
            "fake",
            "docker",
            nodes=[node],
            state=DeploymentState.running,
            resources={
                "engine": url,
                "marker": marker,
                "network": {"name": "whatever", "id": network_id},
                "containers": {},
                "volumes": [],
            },
        )
    )


def test_a_recorded_network_without_our_labels_is_left_alone(tmp_path: Path, docker_host) -> None:
    api = docker_host.api()
    foreign = api.create_network("someone-elses", driver="bridge")["Id"]
    try:
        store = DeploymentStore(tmp_path / "deploy")
        _record(store, docker_host.url, processes.new_marker(), foreign)
        with pytest.raises(UnsafeRecordError, match="does not carry labels"):
            stop_deployment(store, "fake::docker")
        _record(store, docker_host.url, "home", foreign)
        with pytest.raises(UnsafeRecordError, match="is not a marker nxc makes"):
            stop_deployment(store, "fake::docker")
        assert api.inspect_network(foreign)["Id"] == foreign
    finally:
        api.remove_network(foreign)
