"""Roles placed on clusters against the real OAR server of conftest.py (clusters alpha, beta)."""

from __future__ import annotations

import pytest

from nxc.errors import OarJobError
from nxc.platforms import Oar, OarRequest
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
