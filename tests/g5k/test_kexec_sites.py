"""Roles placed on two Grid'5000 sites: one OAR job per site, each through its site's
frontend, hosts of each site for its roles, every job deleted by stop.

Both sites are the real OAR stand-in, reached as ``ssh nancy`` and ``ssh lyon`` through an
OpenSSH configuration naming its SSH frontend twice (on Grid'5000 each site has its own OAR
server); the hosts are the test-bed VMs of test_kexec_deploy.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from nxc.deploy import start_deployment, stop_deployment
from nxc.deployment import DeploymentState
from nxc.flavours.g5k.hosts import HostSource
from nxc.plan import Plan, PlannedNode
from nxc.platforms.oar import Oar, OarRequest
from tests.g5k.conftest import VM_PROPERTIES, kexec_manifest
from tests.g5k.test_kexec_deploy import JOB_WAIT, flavour, on_node, wait_ended

pytestmark = [pytest.mark.vm, pytest.mark.oar]


def test_roles_on_two_sites_boot_on_one_job_per_site(
    lab, g5k_oar, oar_ssh_frontend, testbed_guest, store, tmp_path
):
    config = tmp_path / "ssh_config"
    config.write_text(oar_ssh_frontend.ssh_config("nancy") + oar_ssh_frontend.ssh_config("lyon"))
    frontend = dataclasses.replace(g5k_oar.frontend, ssh_options=("-F", str(config)))
    walltime = OarRequest(
        "walltime=0:30:00",
        job_types=("deploy",),
        properties=VM_PROPERTIES,
        directory=str(g5k_oar.user_dir("job")),
    )
    hosts = HostSource(oar_request=walltime, frontend=frontend, wait_timeout=JOB_WAIT)
    plan = Plan(
        "composition",
        "g5k-ramdisk",
        (
            PlannedNode("server", "server", site="nancy"),
            PlannedNode("client", "client", site="lyon"),
        ),
    )
    deployment = start_deployment(
        store, kexec_manifest(testbed_guest), plan, flavour(lab, hosts=hosts)
    )
    oar = Oar(g5k_oar.frontend)
    resources = deployment.resources
    first, (other,) = resources["oar"], resources["site_jobs"]
    try:
        assert first["frontend"]["host"] == "nancy" and other["frontend"]["host"] == "lyon"
        assert first["oar_job_id"] != other["oar_job_id"]
        server, client = deployment.node("server").ssh_host, deployment.node("client").ssh_host
        assert other["site"] == "lyon" and other["hosts"] == [client]
        assert resources["host_sites"] == {server: "nancy", client: "lyon"}
        assert [n.site for n in store.load(deployment.name).nodes] == ["nancy", "lyon"]
        for job in (first, other):
            assert oar.job_state(job["oar_job_id"]) == "Running"
        for node in deployment.nodes:
            assert on_node(store, deployment, node.hostname, "hostname").strip() == node.hostname
    finally:
        stopped = stop_deployment(store, deployment.name)
    assert stopped.state == DeploymentState.stopped
    for job in (first, other):
        wait_ended(oar, job["oar_job_id"])


def test_sites_on_g5k_image_are_refused_before_anything_is_reserved(store, testbed_guest):
    """One Kadeploy run goes through one site's frontend: g5k-image places no role on a site."""
    from nxc.errors import InputError
    from nxc.flavours import get_flavour

    plan = Plan("composition", "g5k-image", (PlannedNode("server", "server", site="nancy"),))
    image = get_flavour("g5k-image", hosts=HostSource(oar_job=1))
    with pytest.raises(InputError, match=r"roles placed on a site \(server on nancy\)"):
        start_deployment(store, kexec_manifest(testbed_guest, "g5k-image"), plan, image)
    assert not store.exists("composition::g5k-image")
