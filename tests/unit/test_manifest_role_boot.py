"""The manifest's ``role_boot``: the boot files of roles with a kernel of their own."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nxc import manifest
from nxc.errors import ManifestError
from tests.unit.test_manifest import VALID

ROLE_BOOT = {
    "kernel": "/nix/store/bbbb-linux-6.6/bzImage",
    "initrd": "/nix/store/cccc-initrd/initrd",
    "cmdline": "init=/nix/store/aaa-server/init nxc.testrole=server",
}

DATA: dict[str, Any] = copy.deepcopy(VALID)
DATA["compositions"]["composition"]["artefacts"]["role_boot"] = {"server": ROLE_BOOT}


def with_role_boot(value: Any) -> dict[str, Any]:
    """DATA with its role_boot replaced by ``value``."""
    data = copy.deepcopy(DATA)
    data["compositions"]["composition"]["artefacts"]["role_boot"] = value
    return data


def test_role_boot_round_trips_and_is_read_only() -> None:
    read = manifest.from_dict(DATA)
    role_boot = read.composition().artefacts.role_boot
    assert role_boot is not None
    assert role_boot["server"] == manifest.RoleBoot(**ROLE_BOOT)
    assert manifest.to_dict(read) == DATA
    with pytest.raises(TypeError):
        role_boot["node"] = role_boot["server"]  # type: ignore[index]


def test_boot_files_are_the_roles_own_or_the_shared_ones() -> None:
    composition = manifest.from_dict(DATA).composition()
    assert composition.boot_files("server") == (
        ROLE_BOOT["kernel"],
        ROLE_BOOT["initrd"],
        ROLE_BOOT["cmdline"],
    )
    assert composition.boot_files("node") == (
        "/nix/store/ccc/bzImage",
        "/nix/store/ddd/initrd",
        "console=ttyS0",
    )


def test_without_role_boot_nothing_is_written_back() -> None:
    data = copy.deepcopy(DATA)
    del data["compositions"]["composition"]["artefacts"]["role_boot"]
    read = manifest.from_dict(data)
    assert read.composition().artefacts.role_boot is None
    assert manifest.to_dict(read) == data


@pytest.mark.parametrize(
    ("role_boot", "expected"),
    [
        ({"huge": ROLE_BOOT}, "'role_boot' names unknown role 'huge'"),
        ({"server": {**ROLE_BOOT, "kernel": "bzImage"}}, "'kernel' must be an absolute path"),
        ({"server": {**ROLE_BOOT, "initrd": "initrd"}}, "'initrd' must be an absolute path"),
        ({"server": {"kernel": "/k", "initrd": "/i"}}, "missing 'cmdline'"),
        ({"server": {**ROLE_BOOT, "append": "x"}}, "unknown key 'append'"),
        ({"server": "/nix/store/bbbb"}, "role_boot 'server': must be a JSON object"),
        (["server"], "'role_boot' must be a JSON object"),
    ],
)
def test_a_bad_role_boot_is_one_line(role_boot: Any, expected: str) -> None:
    with pytest.raises(ManifestError) as raised:
        manifest.from_dict(with_role_boot(role_boot), "m.json")
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith("m.json: composition 'composition'")
