"""Roles placed on clusters against the real OAR server of conftest.py (clusters alpha, beta)."""

from __future__ import annotations

import pytest

from nxc.errors import InputError, OarJobError
from nxc.flavours.g5k.hosts import HostSource, acquire_hosts, assign_hosts_to_nodes
from nxc.platforms import Oar, OarRequest
from nxc.platforms.machinefile import Hosts
from nxc.platforms.oar import Frontend
from nxc.platforms.placement import NodePlacement, assign_hosts, resource_groups

pytestmark = pytest.mark.oar


@pytest.fixture
def oar(oar_standin):
    client = Oar(oar_standin.frontend)
    yield client
    oar_standin.delete_all_jobs()


def test_one_job_reserves_each_cluster_group_and_nodes_land_on_their_cluster(oar, oar_standin):
    nodes = [NodePlacement("server", None), NodePlacement("osd1", "beta")]
    request = OarRequest(
        resource_groups(nodes, "walltime=0:05:00"), job_types=("deploy",), directory="/tmp"
    )
    job = oar.reserve(request)
    hosts = oar.wait_running(job, timeout=60, poll_interval=0.2)

    clusters = oar.host_clusters()
    assert clusters == oar_standin.clusters
    assigned, unused = assign_hosts(nodes, hosts.names, clusters, hosts.source)
    assert clusters[assigned[1]] == "beta"
    assert assigned[0] != assigned[1] and unused == []


def test_more_hosts_on_a_cluster_than_it_has_is_refused_by_oar(oar):
    nodes = [NodePlacement("osd1", "beta"), NodePlacement("osd2", "beta")]
    with pytest.raises(OarJobError, match="refused the reservation"):
        oar.reserve(OarRequest(resource_groups(nodes), job_types=("deploy",), directory="/tmp"))


def test_hosts_acquired_for_placed_roles_come_from_one_job_of_cluster_groups(oar_standin):
    """The flavours' path: the user's request gives the walltime, the roles the groups."""
    nodes = [NodePlacement("server", None), NodePlacement("osd1", "beta")]
    source = HostSource(
        oar_request=OarRequest("walltime=0:05:00", job_types=("deploy",), directory="/tmp"),
        frontend=oar_standin.frontend,
        wait_timeout=60,
    )
    jobs = []
    try:
        hosts = acquire_hosts(source, jobs.append, nodes)
        assert len(jobs) == 1 and len(hosts.names) == 2
        assigned, unused = assign_hosts_to_nodes(hosts, nodes, oar_standin.frontend)
        assert oar_standin.clusters[assigned[1]] == "beta" and unused == []
    finally:
        oar_standin.delete_all_jobs()


def test_a_host_count_beside_placed_roles_is_refused_before_any_job(oar_standin):
    nodes = [NodePlacement("osd1", "beta")]
    source = HostSource(
        oar_request=OarRequest("nodes=2,walltime=0:05:00"), frontend=oar_standin.frontend
    )
    jobs = []
    with pytest.raises(InputError, match="give only the walltime"):
        acquire_hosts(source, jobs.append, nodes)
    assert jobs == []


def test_unplaced_nodes_take_the_hosts_in_order_without_asking_oar():
    hosts = Hosts(("h1", "h2", "h3"), "machine file m")
    placements = [NodePlacement("a", None), NodePlacement("b", None)]
    unreachable = Frontend(host="frontend.invalid")
    assert assign_hosts_to_nodes(hosts, placements, unreachable) == (["h1", "h2"], ["h3"])
