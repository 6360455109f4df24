"""``get_oar_job_nodes_nxc``, NixOS-Compose's execo entry point, as its experiment scripts call
it, on a recorded deployment of namespace hosts running real sshd (tests/vm deploys VMs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.errors import InputError
from nxc.nxc_execo import get_oar_job_nodes_nxc
from tests.recorded import recorded_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("project")
    roles = ["server", "client", "client"]
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), roles) as project:
        yield project


def test_existing_deployment_as_nodes_and_roles(project: Path) -> None:
    """A script written for NixOS-Compose: its Hosts, default execo parameters, root."""
    from execo import Remote

    nodes, roles = get_oar_job_nodes_nxc(None, None, skip_deploy=True, project=project)
    assert sorted(nodes) == ["node1", "node2", "node3"]
    assert {role: len(hosts) for role, hosts in roles.items()} == {"server": 1, "client": 2}
    remote = Remote("hostname", roles["client"], connection_params={"user": "root"}).run()
    assert remote.ok, [p.stderr for p in remote.processes]
    assert sorted(p.stdout.strip() for p in remote.processes) == ["node2", "node3"]


def test_grid5000_flavour_needs_a_job(project: Path) -> None:
    with pytest.raises(InputError, match="g5k-ramdisk needs an OAR job id"):
        get_oar_job_nodes_nxc(None, "grenoble", flavour_name="g5k-ramdisk", project=project)
