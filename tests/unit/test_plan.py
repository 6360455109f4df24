"""Planning: manifest + composition + role quantities -> nodes in a stable order."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc import manifest
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node
from nxc.errors import InputError, ManifestError, RolesError
from nxc.flavours.base import Flavour, LiveState
from nxc.plan import PlannedNode, check_tag, plan_nodes
from nxc.roles import parse_role_options, read_roles_file

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"


@pytest.fixture
def cluster():
    return manifest.load(FIXTURES / "cluster-vm.json")


@pytest.fixture
def multi():
    return manifest.load(FIXTURES / "multi-docker.json")


def pairs(plan):
    return [(node.hostname, node.role) for node in plan.nodes]


def test_defaults_only(cluster):
    plan = plan_nodes(cluster, None)
    assert pairs(plan) == [("builder", "builder"), ("node1", "node"), ("node2", "node")]
    assert plan.composition == "composition"
    assert plan.flavour == "vm"
    assert plan.deployment_name == "composition::vm"
    assert plan.nodes[0] == PlannedNode(hostname="builder", role="builder")


def test_file_then_options(cluster, tmp_path):
    roles_file = tmp_path / "nodes.yaml"
    roles_file.write_text("builder:\n  - builder\nnode:\n  - foo\n  - bar\n")
    plan = plan_nodes(cluster, None, read_roles_file(roles_file))
    assert pairs(plan) == [("builder", "builder"), ("foo", "node"), ("bar", "node")]
    plan = plan_nodes(cluster, None, read_roles_file(roles_file), parse_role_options(["node=3"]))
    assert plan.hostnames_of("node") == ("node1", "node2", "node3")
    assert plan.hostnames_of("builder") == ("builder",)


def test_order_is_stable_whatever_the_option_order(cluster):
    first = plan_nodes(cluster, None, parse_role_options(["node=2", "builder=1"]))
    second = plan_nodes(cluster, None, parse_role_options(["builder=1", "node=2"]))
    assert first == second
    assert pairs(first) == [("builder1", "builder"), ("node1", "node"), ("node2", "node")]


def test_named_composition_and_zero_default(multi):
    plan = plan_nodes(multi, "bar")
    assert pairs(plan) == [("server", "server")]
    plan = plan_nodes(multi, "bar", parse_role_options(["client=2"]), tag="run-2")
    assert pairs(plan) == [("server", "server"), ("client1", "client"), ("client2", "client")]
    assert plan.deployment_name == "bar::docker::run-2"
    assert pairs(plan_nodes(multi, "foo")) == [("foo1", "foo"), ("foo2", "foo"), ("foo3", "foo")]


def test_unknown_role_is_checked_against_the_chosen_composition(multi):
    with pytest.raises(RolesError, match="unknown role 'foo'; composition 'bar' declares"):
        plan_nodes(multi, "bar", parse_role_options(["foo=1"]))


def test_unknown_composition(multi):
    with pytest.raises(ManifestError, match="no composition 'baz'; it holds: bar, foo"):
        plan_nodes(multi, "baz")


def test_nothing_to_start():
    data = manifest.to_dict(manifest.load(FIXTURES / "multi-docker.json"))
    data["compositions"]["bar"]["roles"]["server"]["default_count"] = 0
    with pytest.raises(RolesError, match=r"no node to start.*roles ROLE=COUNT"):
        plan_nodes(manifest.from_dict(data), "bar")


@pytest.mark.parametrize("tag", ["", "a/b", "a::b", "-x", "x" * 65, "a b"])
def test_bad_tags(tag):
    with pytest.raises(InputError, match=r"^tag "):
        check_tag(tag)


def test_good_tag():
    assert check_tag("exp-1.2_b") == "exp-1.2_b"


def test_a_cluster_placement_reaches_the_planned_nodes_and_the_record(cluster, tmp_path):
    from nxc.deployment import Deployment, Node

    plan = plan_nodes(cluster, None, parse_role_options(["node=cluster:dahu:2"]))
    assert [(n.hostname, n.cluster) for n in plan.nodes] == [
        ("builder", None),
        ("node1", "dahu"),
        ("node2", "dahu"),
    ]
    assert plan.clusters == {"node": "dahu"}
    node = Node(hostname="node1", role="node", address="", ssh_host="", cluster="dahu")
    record = Deployment(composition="c", flavour="g5k-ramdisk", nodes=[node]).to_dict()
    assert Deployment.from_dict(record).nodes[0].cluster == "dahu"
    unplaced = Node(hostname="b", role="b", address="", ssh_host="").to_dict()
    assert "cluster" not in unplaced


def test_a_site_placement_reaches_the_planned_nodes_and_the_record(cluster):
    plan = plan_nodes(
        cluster,
        None,
        parse_role_options(["node=site:nancy:cluster:gros:1", "builder=site:lyon:1"]),
    )
    assert [(n.hostname, n.site, n.cluster) for n in plan.nodes] == [
        ("builder1", "lyon", None),
        ("node1", "nancy", "gros"),
    ]
    assert plan.sites == {"builder": "lyon", "node": "nancy"}
    assert plan.clusters == {"node": "gros"}
    assert plan_nodes(cluster, None).sites == {}
    node = Node(hostname="node1", role="node", address="", ssh_host="", site="nancy")
    record = Deployment(composition="c", flavour="g5k-ramdisk", nodes=[node]).to_dict()
    assert record["nodes"][0]["site"] == "nancy"
    assert Deployment.from_dict(record).nodes[0].site == "nancy"
    assert "site" not in Node(hostname="b", role="b", address="", ssh_host="").to_dict()


class RecordReadingFlavour(Flavour):
    """Starts nothing: reads back the record start_deployment wrote before calling it (it
    places roles on sites, as the kexec flavours do)."""

    name = "vm"
    places_on_sites = True

    def __init__(self) -> None:
        self.recorded: dict[str, str | None] = {}

    def start(self, deployment, manifest, store, progress) -> None:
        saved = store.load(deployment.name)
        self.recorded = {node.hostname: node.site for node in saved.nodes}

    def stop(self, deployment, store, force=False) -> None:
        deployment.state = DeploymentState.stopped
        store.save(deployment)

    def probe(self, deployment) -> dict[str, LiveState]:
        return {}


def test_start_records_each_planned_node_s_site(cluster, tmp_path):
    from nxc.deploy import start_deployment

    plan = plan_nodes(cluster, None, parse_role_options(["node=site:nancy:1"]))
    flavour = RecordReadingFlavour()
    deployment = start_deployment(DeploymentStore(tmp_path / "deploy"), cluster, plan, flavour)
    assert flavour.recorded == {"builder": None, "node1": "nancy"}
    assert [node.site for node in deployment.nodes] == [None, "nancy"]


def test_a_flavour_that_cannot_place_refuses_placed_roles_before_anything(cluster, tmp_path):
    """The vm flavour has no clusters: the request is refused before a record is written."""
    from nxc.deploy import start_deployment
    from nxc.deployment import DeploymentStore
    from nxc.flavours.vm.flavour import VmFlavour

    plan = plan_nodes(cluster, None, parse_role_options(["node=cluster:dahu:2"]))
    store = DeploymentStore(tmp_path / "deploy")
    with pytest.raises(InputError, match=r"roles placed on a cluster \(node on dahu\) need"):
        start_deployment(store, cluster, plan, VmFlavour())
    assert store.names() == []


def test_min_nodes_is_a_count_or_a_fraction_of_the_planned_nodes() -> None:
    from nxc.plan import min_nodes_of

    assert min_nodes_of("3", 10) == 3
    assert min_nodes_of("0.9", 10) == 9 and min_nodes_of("0.75", 10) == 8  # rounded up
    assert min_nodes_of("90%", 10) == 9 and min_nodes_of("100%", 7) == 7
    for bad in ("0", "11", "x", "0.0", "-1", "150%", ""):
        with pytest.raises(InputError, match="min_nodes"):
            min_nodes_of(bad, 10)


def test_failed_nodes_and_min_nodes_survive_the_record(tmp_path) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    failed = Node("node2", "node", address="10.0.0.2", ssh_host="h2", failure="late")
    deployment = Deployment(
        "c",
        "vm",
        nodes=[Node("node1", "node", "10.0.0.1", "h1")],
        failed_nodes=[failed],
        min_nodes=1,
    )
    store.save(deployment)
    loaded = store.load("c::vm")
    assert loaded.min_nodes == 1
    assert [n.hostname for n in loaded.nodes] == ["node1"]
    assert loaded.failed_nodes[0].failure == "late"


def test_a_failure_kept_among_the_extras_reads_as_the_nodes_failure(tmp_path) -> None:
    """Records written before ``Node.failure`` kept the reason in ``extra.failure``."""
    stored = Node("node2", "node", "10.0.0.2", "h2").to_dict() | {"extra": {"failure": "late"}}
    node = Node.from_dict(stored)
    assert node.failure == "late" and node.extra == {}
    assert node.to_dict()["failure"] == "late"
