"""Typed record sections: read back with their types checked, unknown keys kept, versioned."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.errors import DeploymentRecordError
from nxc.record_section import CommonResources, Section, node_facts_of, resources_of


@dataclass
class Switch(Section):
    socket: Path | None = None
    ports: int = 0


@dataclass
class Resources(CommonResources):
    ports: list[int] = field(default_factory=list)
    forwards: list[tuple[int, int]] = field(default_factory=list)
    options: tuple[str, ...] = ()
    switch: Switch | None = None
    labels: dict[str, str] = field(default_factory=dict)
    memory: float | None = None


def test_a_section_survives_a_saved_record(tmp_path) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    resources = Resources(
        marker="nxc-1",
        secret_dir=tmp_path / "secret",
        ports=[22001, 22002],
        forwards=[(8080, 80)],
        options=("-nographic",),
        switch=Switch(socket=tmp_path / "vde", ports=64),
        labels={"a": "b"},
        memory=2,
    )
    store.save(Deployment("c", "vm", resources=resources.to_record()))
    loaded = Resources.from_record(store.load("c::vm").resources)
    assert loaded == resources
    assert isinstance(loaded.memory, float) and loaded.switch is not None
    assert loaded.switch.socket == tmp_path / "vde"


def test_keys_the_section_does_not_declare_are_written_back_unchanged() -> None:
    stored = Resources(marker="m", ports=[1]).to_record() | {"oar": [{"job": 7}]}
    common = CommonResources.from_record(stored)
    assert common.marker == "m"
    assert common.to_record() == stored
    assert Resources.from_record(common.to_record()).ports == [1]


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"ports": "22"}, "'resources.ports' must be a list, not a string"),
        ({"ports": [22, "x"]}, r"'resources.ports\[1\]' must be an integer, not a string"),
        ({"forwards": [[1]]}, r"'resources.forwards\[0\]' must be a list of 2 items"),
        ({"switch": {"ports": True}}, "'resources.switch.ports' must be an integer, not true"),
        ({"marker": 3}, "'resources.marker' must be a string, not an integer"),
        ({"labels": []}, "'resources.labels' must be a JSON object, not a list"),
        ({"section_format": 9}, "newer than this nxc reads .*; upgrade nxc"),
    ],
)
def test_a_wrong_value_names_its_key(stored: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Resources.from_record(stored)


def test_a_record_without_the_section_reads_as_its_defaults() -> None:
    assert Resources.from_record({}) == Resources()
    assert Resources.from_record(None).ports == []
    assert Resources().to_record() == {"ports": [], "forwards": [], "options": [], "labels": {}}


def test_a_newer_section_format_is_written() -> None:
    @dataclass
    class Second(Section):
        section_format = 2
        name: str = "x"

    assert Second().to_record() == {"name": "x", "section_format": 2}
    assert Second.from_record({"name": "y", "section_format": 2}).name == "y"


def test_a_malformed_section_of_a_record_names_the_record_and_the_key() -> None:
    node = Node("node1", "node", "10.0.0.1", "h1", extra={"socket": 3})
    deployment = Deployment("c", "vm", nodes=[node], resources={"ports": {}})
    with pytest.raises(DeploymentRecordError, match=r"c::vm: 'resources.ports' must be a list"):
        resources_of(Resources, deployment)
    with pytest.raises(DeploymentRecordError, match=r"'nodes\[node1\].extra.socket' must be"):
        node_facts_of(Switch, deployment, node)
    assert node_facts_of(Switch, deployment, Node("n", "r", "a", "h")) == Switch()


def test_the_common_part_reads_a_newer_format_of_a_flavours_section() -> None:
    """The driver and stop read marker and folders of any format; the owner refuses it."""
    stored = Resources(marker="m", ports=[1]).to_record() | {"section_format": 7}
    assert CommonResources.from_record(stored).marker == "m"
    with pytest.raises(ValueError, match="upgrade nxc"):
        Resources.from_record(stored)
