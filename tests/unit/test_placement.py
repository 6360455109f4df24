"""Roles placed on clusters: the OAR resource groups and which host runs which node.

Pure functions; the same request against a real OAR server is in tests/oar/test_placement.py.
"""

from __future__ import annotations

import pytest

from nxc.errors import InputError, ResourceLimitError
from nxc.platforms.placement import NodePlacement, assign_hosts, resource_groups, walltime_only

NODES = [
    NodePlacement("mon", None),
    NodePlacement("osd1", "dahu"),
    NodePlacement("osd2", "dahu"),
    NodePlacement("client1", None),
    NodePlacement("gpu1", "yeti"),
]
CLUSTERS = {"d1": "dahu", "d2": "dahu", "d3": "dahu", "y1": "yeti", "t1": "troll"}


def test_one_group_per_cluster_then_the_unplaced_hosts():
    assert resource_groups(NODES, "walltime=1:00") == (
        "{cluster='dahu'}/nodes=2+{cluster='yeti'}/nodes=1+nodes=2,walltime=1:00"
    )
    assert resource_groups([NodePlacement("a", None)]) == "nodes=1"


def test_placed_nodes_get_hosts_of_their_cluster_and_the_others_what_is_left():
    hosts = ["d1", "t1", "y1", "d2", "d3"]
    assigned, unused = assign_hosts(NODES, hosts, CLUSTERS, "OAR job 7")
    by_node = dict(zip([n.hostname for n in NODES], assigned, strict=True))
    assert by_node == {"osd1": "d1", "osd2": "d2", "gpu1": "y1", "mon": "t1", "client1": "d3"}
    assert unused == []


def test_too_few_hosts_on_a_cluster_is_refused_naming_it():
    with pytest.raises(ResourceLimitError, match="gives 0 host\\(s\\) on cluster yeti but the"):
        assign_hosts(NODES, ["d1", "d2", "t1", "t1b"], CLUSTERS, "OAR job 7")
    with pytest.raises(ResourceLimitError, match="no host left for client1"):
        assign_hosts(NODES, ["d1", "d2", "y1", "t1"], CLUSTERS, "OAR job 7")


def test_only_a_walltime_may_accompany_placed_roles():
    assert walltime_only("walltime=2:00") == "walltime=2:00"
    assert walltime_only("") == ""
    with pytest.raises(InputError, match="give only the walltime"):
        walltime_only("nodes=4,walltime=2:00")
