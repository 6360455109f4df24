"""``get_oar_job_nodes_nxc`` deploying the test-bed guest on VMs through the real ``nxc start``."""

from __future__ import annotations

import pytest

from nxc.nxc_execo import get_oar_job_nodes_nxc
from tests.vm.conftest import VmProject, nxc


@pytest.mark.vm
def test_deploys_on_vms_then_stop_undoes_it(vm_project: VmProject, vm_cleanup: list) -> None:
    """The deployment goes through nxc start: recorded, and nxc stop removes it."""
    from execo import Remote

    vm_cleanup.append((vm_project.store, "testbed::vm"))
    nodes, roles = get_oar_job_nodes_nxc(
        None,
        flavour_name="vm",
        composition_name="testbed",
        roles_quantities={"node": 2},
        compose_info_file=vm_project.manifest_path,
        project=vm_project.root,
    )
    assert sorted(nodes) == ["node1", "node2"] and len(roles["node"]) == 2
    remote = Remote("cat /proc/cmdline", roles["node"], connection_params={"user": "root"}).run()
    assert remote.ok, [p.stderr for p in remote.processes]
    assert nxc("stop", cwd=vm_project.root).returncode == 0
