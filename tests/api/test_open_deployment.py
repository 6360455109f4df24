"""The public Python API on a recorded deployment of namespace hosts running real sshd,
through nxc's own transport and through execo with the parameters the API gives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import nxc
from nxc.errors import InputError
from tests.recorded import recorded_project

ROLES = ["server", "client", "client"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose latest deployment is three namespace hosts running sshd."""
    root = tmp_path_factory.mktemp("project")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ROLES, tag="api") as project:
        yield project


def test_run_on_a_role_gives_one_result_per_host(project: Path) -> None:
    with nxc.open_deployment(project=project, tag="api") as env:
        assert env.hostnames("client") == ["node2", "node3"]
        result = env.run("hostname", roles=["client"]).check()
        assert {r.host: r.stdout.strip() for r in result} == {"node2": "node2", "node3": "node3"}
        failing = env.run("test $(hostname) = node1")
        assert [r.host for r in failing.failed] == ["node2", "node3"]


def test_put_copies_to_the_selected_hosts(project: Path, tmp_path: Path) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_text("from the api\n")
    with nxc.open_deployment(project=project) as env:
        env.put(payload, "/tmp/payload.txt", hosts=["node1"]).check()
        assert env.run("cat /tmp/payload.txt", hosts=["node1"])["node1"].stdout == "from the api\n"


def test_execo_reaches_the_nodes_with_pinned_keys(project: Path) -> None:
    from execo import Remote

    with nxc.open_deployment(project=project) as env:
        remote = Remote(
            "hostname", env.execo_hosts("server"), connection_params=env.execo_connection_params()
        ).run()
        assert remote.ok
        assert [p.stdout.strip() for p in remote.processes] == ["node1"]


def test_unknown_role_is_input_error(project: Path) -> None:
    with nxc.open_deployment(project=project) as env, pytest.raises(InputError, match="no role"):
        env.nodes("database")
