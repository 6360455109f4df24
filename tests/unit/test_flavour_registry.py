"""The flavour table (nxc/nix/flavours.json) is the one source of the flavour list: names,
the Python class of each and the option groups ``nxc start`` lets through come from it."""

from __future__ import annotations

import json

import pytest

from nxc import start_request as start
from nxc.errors import ProjectError
from nxc.flavours import base, registry
from nxc.flavours.names import FLAVOUR_NAMES
from nxc.flavours.vm import flavour as vm


def test_every_listed_implementation_is_the_flavour_of_that_name():
    table = json.loads(registry.TABLE.read_text())
    assert tuple(table) == FLAVOUR_NAMES
    for name, entry in registry.FLAVOURS.items():
        if entry.implementation is not None:
            cls = base.flavour_class(name)
            assert cls.name == name
            assert base.REGISTRY[name] == table[name]["implementation"]


def test_option_facts_come_from_the_table():
    assert start.VM_FLAVOURS == ("vm", "vm-ramdisk") == vm.LOCAL_QEMU_FLAVOURS
    assert start.HOST_FLAVOURS == ("g5k-ramdisk", "g5k-nfs-store", "g5k-image")
    assert registry.taking("nfs_server") == ("g5k-nfs-store",)
    assert not registry.takes("docker", "kernel_params")
    assert not registry.takes("no-such-flavour", "qemu")


def test_a_flavour_without_implementation_is_named_but_not_deployable(monkeypatch):
    entry = registry.FlavourEntry("elsewhere", "built by Nix only", None, frozenset())
    monkeypatch.setitem(registry.FLAVOURS, "elsewhere", entry)
    with pytest.raises(ProjectError, match="'elsewhere' cannot be deployed by this nxc"):
        base.flavour_class("elsewhere")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"implementation": "no-colon"}, "implementation must be 'module:Class'"),
        ({"options": ["qemu", "warp"]}, r"unknown option groups \['warp'\]"),
        ("text", "is not an object"),
    ],
)
def test_a_malformed_entry_is_refused_in_one_line(raw, message):
    with pytest.raises(ProjectError, match=message):
        registry._entry("odd", raw)
