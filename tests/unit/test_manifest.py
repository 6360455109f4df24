"""The build manifest: loading, validation, round trip, and the bundled example manifests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nxc import manifest
from nxc.errors import ManifestError, ProjectError
from nxc.flavours.names import FLAVOUR_NAMES, check_flavour_name

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"
BUNDLED = sorted(FIXTURES.glob("*.json"))

VALID = {
    "nxc_manifest": 1,
    "flavour": "vm",
    "system": "x86_64-linux",
    "compositions": {
        "composition": {
            "roles": {
                "server": {"system": "/nix/store/aaa-server", "default_count": 1},
                "node": {"system": "/nix/store/bbb-node", "default_count": 2},
            },
            "test_script": "start_all()\n",
            "artefacts": {
                "kernel": "/nix/store/ccc/bzImage",
                "initrd": "/nix/store/ddd/initrd",
                "cmdline": "console=ttyS0",
            },
        }
    },
}


def changed(path: tuple[str, ...], value):
    """A copy of VALID with the key at ``path`` set to ``value`` (deleted when value is ...)."""
    data = copy.deepcopy(VALID)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def test_from_dict_gives_typed_records_in_order():
    built = manifest.from_dict(VALID)
    assert built.flavour == "vm"
    assert built.system == "x86_64-linux"
    composition = built.composition()
    assert composition.name == "composition"
    assert composition.role_names() == ("server", "node")
    assert composition.default_counts() == {"server": 1, "node": 2}
    assert composition.roles[1].system == "/nix/store/bbb-node"
    assert composition.test_script == "start_all()\n"
    assert composition.artefacts.kernel == "/nix/store/ccc/bzImage"
    assert composition.artefacts.image is None


def test_records_are_frozen():
    built = manifest.from_dict(VALID)
    with pytest.raises(AttributeError):
        built.flavour = "docker"  # type: ignore[misc]


def test_round_trip():
    assert manifest.to_dict(manifest.from_dict(VALID)) == VALID


def test_default_count_defaults_to_one_and_optional_parts_may_be_absent():
    data = changed(("compositions", "composition", "roles", "server", "default_count"), ...)
    data = {**data, "compositions": {"c": {"roles": data["compositions"]["composition"]["roles"]}}}
    built = manifest.from_dict(data)
    assert built.composition("c").default_counts() == {"server": 1, "node": 2}
    assert built.composition("c").test_script is None
    assert manifest.from_dict(manifest.to_dict(built)) == built


def test_a_role_wanting_the_root_ssh_key_is_recorded_and_round_trips():
    assert manifest.from_dict(VALID).composition().wants_root_ssh_key is False
    data = changed(("compositions", "composition", "roles", "node", "root_ssh_key"), True)
    built = manifest.from_dict(data)
    assert [role.root_ssh_key for role in built.composition().roles] == [False, True]
    assert built.composition().wants_root_ssh_key is True
    assert manifest.to_dict(built) == data


def test_containers_round_trip_and_are_read_only():
    data = changed(("flavour",), "docker")
    data["compositions"]["composition"]["artefacts"] = {
        "containers": {"server": "/nix/store/aaa-server", "node": {"image": "x", "ports": [1]}}
    }
    built = manifest.from_dict(data)
    containers = built.composition().artefacts.containers
    assert containers["node"] == {"image": "x", "ports": [1]}
    with pytest.raises(TypeError):
        containers["extra"] = {}  # type: ignore[index]
    assert manifest.to_dict(built) == data


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(VALID))
    built = manifest.load(path)
    assert built.source == str(path)
    assert built == manifest.from_dict(VALID)


@pytest.mark.parametrize("path", BUNDLED, ids=[p.name for p in BUNDLED])
def test_bundled_manifests_are_valid_and_canonical(path):
    data = json.loads(path.read_text())
    assert manifest.to_dict(manifest.load(path)) == data


def test_there_are_bundled_manifests():
    assert {p.name for p in BUNDLED} >= {"cluster-vm.json", "multi-docker.json"}


def test_choosing_a_composition():
    data = copy.deepcopy(VALID)
    data["compositions"]["other"] = copy.deepcopy(data["compositions"]["composition"])
    built = manifest.from_dict(data, "m.json")
    assert built.composition().name == "composition"  # NixOS-Compose's single name wins
    assert built.composition("other").name == "other"
    with pytest.raises(ManifestError, match=r"m.json: no composition 'nope'; it holds: "):
        built.composition("nope")
    del data["compositions"]["composition"]
    data["compositions"]["third"] = data["compositions"]["other"]
    with pytest.raises(ManifestError, match=r"holds several compositions .*-c/--composition"):
        manifest.from_dict(data, "m.json").composition()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([1, 2], "a build manifest is a JSON object"),
        (changed(("nxc_manifest",), ...), "not an nxc build manifest (no 'nxc_manifest' key)"),
        ({"nodes": {}, "flavour": {}}, "NixOS-Compose build result"),
        (changed(("nxc_manifest",), 2), "built by a newer nxc (manifest schema 2"),
        (changed(("nxc_manifest",), "1"), "'nxc_manifest' must be a schema version number"),
        (changed(("nxc_manifest",), 0), "must be a schema version number"),
        (changed(("extra",), True), "unknown key 'extra' at the top level"),
        (changed(("flavour",), "vmm"), "unknown flavour 'vmm'; use one of: vm, docker"),
        (changed(("flavour",), ...), "missing 'flavour'"),
        (changed(("system",), "linux"), "not a Nix system like 'x86_64-linux'"),
        (changed(("compositions",), {}), "'compositions' is empty"),
        (changed(("compositions",), []), "'compositions' must be a JSON object"),
        (changed(("compositions", "a::b"), {"roles": {}}), "'a::b' is not a composition name"),
        (changed(("compositions", "composition", "roles"), {}), "declares no roles"),
        (changed(("compositions", "composition", "nodes"), {}), "unknown key 'nodes'"),
        (
            changed(("compositions", "composition", "roles", "my.role"), {"system": "/x"}),
            "role 'my.role' cannot be a hostname",
        ),
        (
            changed(("compositions", "composition", "roles", "node", "system"), "relative"),
            "'system' must be an absolute store path",
        ),
        (
            changed(("compositions", "composition", "roles", "node", "system"), ...),
            "role 'node': missing 'system'",
        ),
        (
            changed(("compositions", "composition", "roles", "node", "default_count"), -1),
            "'default_count' must be a whole number >= 0, got -1",
        ),
        (
            changed(("compositions", "composition", "roles", "node", "default_count"), True),
            "'default_count' must be a whole number >= 0, got True",
        ),
        (
            changed(("compositions", "composition", "roles", "node", "root_ssh_key"), "yes"),
            "'root_ssh_key' must be true or false, got 'yes'",
        ),
        (
            changed(("compositions", "composition", "roles", "node", "cpus"), 2),
            "role 'node': unknown key 'cpus'",
        ),
        (
            changed(("compositions", "composition", "artefacts", "bootloader"), "/x"),
            "artefacts: unknown key 'bootloader'",
        ),
        (
            changed(("compositions", "composition", "artefacts", "kernel"), "bzImage"),
            "'kernel' must be an absolute path",
        ),
        (changed(("compositions", "composition", "test_script"), 3), "'test_script' must be text"),
    ],
)
def test_invalid_manifest_gives_one_line_naming_the_file(data, expected):
    with pytest.raises(ManifestError) as caught:
        manifest.from_dict(data, "build/c::vm.json")
    message = str(caught.value)
    assert message.startswith("build/c::vm.json")
    assert expected in message
    assert "\n" not in message


def test_unreadable_and_broken_files(tmp_path):
    with pytest.raises(ManifestError, match="build manifest not found"):
        manifest.load(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"nxc_manifest": 1,')
    with pytest.raises(ManifestError, match=r"broken.json: not valid JSON \(line 1"):
        manifest.load(broken)


def test_artefacts_require_names_what_is_missing():
    artefacts = manifest.from_dict(VALID).composition().artefacts
    artefacts.require("kernel", "initrd", flavour="vm", source="m.json")
    with pytest.raises(ManifestError, match=r"m.json: no image artefact for flavour g5k-image"):
        artefacts.require("image", flavour="g5k-image", source="m.json")


def test_flavour_names_are_checked_in_one_place():
    assert FLAVOUR_NAMES == (
        "vm",
        "docker",
        "g5k-ramdisk",
        "g5k-nfs-store",
        "g5k-image",
        "vm-ramdisk",
        "nixos-test",
    )
    assert check_flavour_name("g5k-nfs-store", "nxc.json") == "g5k-nfs-store"
    with pytest.raises(ProjectError, match=r"^nxc.json: unknown flavour 'qemu'; use one of: vm,"):
        check_flavour_name("qemu", "nxc.json")


def test_flavour_list_matches_the_nix_library():
    flavours_json = Path(manifest.__file__).parent / "nix" / "flavours.json"
    assert set(json.loads(flavours_json.read_text())) == set(FLAVOUR_NAMES)
