"""Planning the nodes ``nxc start --add`` adds to a running deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc import manifest
from nxc.errors import RolesError
from nxc.plan import plan_added_nodes
from nxc.roles import parse_role_options

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"


@pytest.fixture
def cluster():
    """Roles ``builder`` (1 node by default) and ``node`` (2)."""
    return manifest.load(FIXTURES / "cluster-vm.json")


def added(cluster, taken, *options):
    planned = plan_added_nodes(cluster, "composition", taken, parse_role_options(options))
    return [(node.hostname, node.role) for node in planned]


def test_counts_are_numbered_after_the_highest_existing_number(cluster):
    taken = ["builder", "node1", "node2", "node5"]
    assert added(cluster, taken, "node=2") == [("node6", "node"), ("node7", "node")]


def test_a_role_named_after_itself_counts_as_one(cluster):
    assert added(cluster, ["builder", "node1"], "builder=2") == [
        ("builder2", "builder"),
        ("builder3", "builder"),
    ]


def test_a_role_with_no_node_yet_starts_at_one_and_roles_keep_the_manifest_order(cluster):
    assert added(cluster, ["builder"], "node=1", "builder=1") == [
        ("builder2", "builder"),
        ("node1", "node"),
    ]


def test_listed_hostnames_are_kept_and_must_be_free(cluster):
    assert added(cluster, ["node1"], "node=big1,big2") == [("big1", "node"), ("big2", "node")]
    with pytest.raises(RolesError, match=r"node1 already in the deployment; give other"):
        added(cluster, ["node1"], "node=big1,node1")


def test_nothing_or_an_unknown_role_is_one_clear_error(cluster):
    with pytest.raises(RolesError, match="adding nodes needs how many"):
        plan_added_nodes(cluster, "composition", [])
    with pytest.raises(RolesError, match="count 0 must be at least 1"):
        added(cluster, [], "node=0")
    with pytest.raises(RolesError, match="'gpu'"):
        added(cluster, [], "gpu=1")


def test_added_nodes_keep_their_role_s_site_and_cluster(cluster):
    quantities = parse_role_options(["node=site:lyon:cluster:nova:1"])
    planned = plan_added_nodes(cluster, "composition", ["node1"], quantities)
    assert [(n.hostname, n.site, n.cluster) for n in planned] == [("node2", "lyon", "nova")]
