"""Roles placed on several sites: one OAR request per site, and each node on a host of its site.

Pure functions; the jobs reserved on two sites of a real OAR server are in tests/oar/test_sites.py.
"""

from __future__ import annotations

import pytest

from nxc.errors import InputError, ResourceLimitError
from nxc.platforms.machinefile import Hosts
from nxc.platforms.oar import Frontend, OarRequest
from nxc.platforms.placement import NodePlacement
from nxc.platforms.sites import (
    assign_site_hosts,
    check_sites_reservable,
    site_frontend,
    site_requests,
)

NODES = [
    NodePlacement("mon", None),
    NodePlacement("osd1", "gros", "nancy"),
    NodePlacement("client1", None, "lyon"),
    NodePlacement("osd2", "gros", "nancy"),
    NodePlacement("meta1", None, "nancy"),
    NodePlacement("gpu1", "yeti", None),
]
REQUEST = OarRequest("walltime=1:00", job_types=("deploy",), directory="/tmp")


def test_one_request_per_site_with_its_clusters_as_groups_in_the_order_sites_come():
    requests = site_requests(REQUEST, NODES)
    assert [(entry.site, entry.request.resources) for entry in requests] == [
        (None, "{cluster='yeti'}/nodes=1+nodes=1,walltime=1:00"),
        ("nancy", "{cluster='gros'}/nodes=2+nodes=1,walltime=1:00"),
        ("lyon", "nodes=1,walltime=1:00"),
    ]
    assert [node.hostname for node in requests[1].placements] == ["osd1", "osd2", "meta1"]
    for entry in requests:
        assert (entry.request.job_types, entry.request.directory) == (("deploy",), "/tmp")
        assert entry.request.name == REQUEST.name


def test_without_any_placement_the_default_frontend_asks_for_the_request_as_given():
    request = OarRequest("nodes=3,walltime=1:00")
    nodes = [NodePlacement("a", None), NodePlacement("b", None)]
    assert [(e.site, e.request, e.placements) for e in site_requests(request, nodes)] == [
        (None, request, tuple(nodes))
    ]


def test_a_host_count_beside_roles_placed_on_sites_is_refused():
    with pytest.raises(InputError, match="give only the walltime"):
        site_requests(OarRequest("nodes=2,walltime=1:00"), [NodePlacement("a", None, "lyon")])


def test_sites_without_a_new_reservation_are_refused_in_one_line():
    placed = [NodePlacement("a", None, "lyon")]
    with pytest.raises(InputError) as caught:
        check_sites_reservable(placed, None)
    assert str(caught.value) == (
        "roles placed on sites need a new reservation per site (lyon): give oar_request "
        "'walltime=H:MM', or a job of yours there with oar_job SITE:ID"
    )
    flags = {"oar_request": "--oar", "oar_job": "--oar-job"}
    assert caught.value.render(flags).endswith("or a job of yours there with --oar-job SITE:ID")
    check_sites_reservable(placed, REQUEST)
    check_sites_reservable([NodePlacement("a", "gros")], None)


def test_each_site_is_reached_through_ssh_with_the_default_frontend_s_options():
    default = Frontend(host="rennes", ssh_options=("-F", "/tmp/config"))
    assert site_frontend(None, default) is default
    assert site_frontend("nancy", default) == Frontend("nancy", ("-F", "/tmp/config"))


def test_nodes_get_hosts_of_their_site_then_of_their_cluster_there():
    hosts = {
        None: Hosts(("r1", "y1"), "OAR job 1"),
        "nancy": Hosts(("n1", "g1", "g2", "n2"), "OAR job 7 on frontend nancy"),
        "lyon": Hosts(("l1",), "OAR job 3 on frontend lyon"),
    }
    clusters = {None: {"y1": "yeti"}, "nancy": {"g1": "gros", "g2": "gros"}}
    asked = []

    def clusters_of(site):
        asked.append(site)
        return clusters[site]

    assigned, unused = assign_site_hosts(hosts, NODES, clusters_of)
    assert assigned == ["r1", "g1", "l1", "g2", "n1", "y1"]
    assert unused == ["n2"]
    assert asked == [None, "nancy"]  # lyon has no node on a cluster: OAR is not asked


def test_a_site_with_too_few_hosts_or_none_is_refused_naming_it():
    nodes = [NodePlacement("a", None, "lyon"), NodePlacement("b", None, "lyon")]
    with pytest.raises(ResourceLimitError, match="OAR job 3 on frontend lyon gives 1 host"):
        assign_site_hosts(
            {"lyon": Hosts(("l1",), "OAR job 3 on frontend lyon")}, nodes, lambda site: {}
        )
    with pytest.raises(ResourceLimitError, match="no hosts were reserved on site lyon for a"):
        assign_site_hosts({}, nodes, lambda site: {})


def test_free_hosts_go_to_added_nodes_of_their_site() -> None:
    """Nodes added on a deployment's unused hosts get hosts of their own site."""
    from nxc.errors import ResourceLimitError
    from nxc.flavours.g5k.hosts import assign_free_hosts
    from nxc.platforms.machinefile import Hosts
    from nxc.platforms.oar import Frontend
    from nxc.platforms.placement import NodePlacement

    free = Hosts(("lyon-1", "nancy-1", "any-1", "nancy-2"), "the unused hosts")
    sites = {"lyon-1": "lyon", "nancy-1": "nancy", "nancy-2": "nancy"}
    placements = [NodePlacement("x", None, "nancy"), NodePlacement("y", None, None)]
    assigned, unused = assign_free_hosts(free, placements, sites, Frontend())
    assert assigned == ["nancy-1", "any-1"]
    assert sorted(unused) == ["lyon-1", "nancy-2"]
    with pytest.raises(ResourceLimitError, match="too few hosts on site lyon"):
        assign_free_hosts(
            free, [NodePlacement(f"n{i}", None, "lyon") for i in range(2)], sites, Frontend()
        )


def test_a_site_job_of_the_users_stands_for_a_reservation_there() -> None:
    placed = [NodePlacement("a", None, "nancy"), NodePlacement("b", None, "lyon")]
    check_sites_reservable(placed, None, {"nancy": 1, "lyon": 2})
    with pytest.raises(InputError, match=r"new reservation per site \(lyon\)"):
        check_sites_reservable(placed, None, {"nancy": 1})
    with pytest.raises(InputError, match=r"names site\(s\) rennes, where no role is placed"):
        check_sites_reservable(placed, REQUEST, {"rennes": 3})
    entries = site_requests(None, placed, {"nancy": 1, "lyon": 2})
    assert [(e.site, e.request, e.job_id) for e in entries] == [
        ("nancy", None, 1),
        ("lyon", None, 2),
    ]
