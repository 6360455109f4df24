"""A living docker deployment grown and shrunk from Python (``Environment.add_nodes`` and
``remove_nodes``): a real Docker engine, the stand-in image and its ``nxc-hosts-update``."""

from __future__ import annotations

import pytest
import yaml

import nxc
from nxc.deploy import stop_deployment
from tests.docker.conftest import DockerProject, Engine, engine_objects
from tests.docker.test_docker_e2e import assert_nothing_left, start

pytestmark = pytest.mark.docker


def listed_hosts(env: nxc.Environment) -> dict[str, list[str]]:
    answers = env.run("cat /etc/hosts").check().results
    return {
        host: [line.split()[1] for line in answer.stdout.splitlines() if "localhost" not in line]
        for host, answer in answers.items()
    }


def test_nodes_added_and_removed_from_python(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    deployment, _ = start(docker_project, docker_cleanup, 2)
    with nxc.open_deployment(deployment.name, project=docker_project.root) as env:
        grown = env.add_nodes("node", 2)
        assert grown.added == ("node3", "node4")
        assert set(grown.phases) >= {"plan", "allocate", "prepare", "boot", "announce"}
        assert grown.announcement.told == ("node1", "node2") and not grown.announcement.failed
        assert env.hostnames() == ["node1", "node2", "node3", "node4"]
        assert listed_hosts(env) == {
            key: ["node1", "node2", "node3", "node4"] for key in env.hostnames()
        }
        reached = env.run("ping -c1 -W5 node4 >/dev/null && hostname", hosts=["node1"]).check()
        assert reached.results["node1"].stdout.strip() == "node1"

        shrunk = env.remove_nodes(["node2"])
        assert shrunk.removed == ("node2",)
        assert env.hostnames() == ["node1", "node3", "node4"]
        assert listed_hosts(env) == {key: ["node1", "node3", "node4"] for key in env.hostnames()}
        names = engine_objects(docker_host, deployment.name)["containers"]
        assert len(names) == 3
        compose = yaml.safe_load(
            (docker_project.store.state_dir(deployment.name) / "docker-compose.yml").read_text()
        )
        assert sorted(compose["services"]) == ["node1", "node3", "node4"]
    record = docker_project.store.load(deployment.name)
    assert sorted(record.resources["containers"]) == ["node1", "node3", "node4"]
    stop_deployment(docker_project.store, deployment.name)
    assert_nothing_left(docker_host, docker_project, record)
