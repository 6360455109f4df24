"""Roles that wait for roles, on the Python side: activation levels, the manifest's ``after``
and ``readiness`` fields read, checked and written back."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nxc.activation import activation_levels, check_command
from nxc.errors import ManifestError
from nxc.manifest import Composition, Role, RoleCheck, dependency_levels, from_dict, to_dict


def manifest_data(roles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A vm manifest of one composition ``c`` whose roles have the given extra fields."""
    return {
        "nxc_manifest": 1,
        "flavour": "vm",
        "system": "x86_64-linux",
        "compositions": {
            "c": {
                "roles": {
                    name: {"system": f"/nix/store/0000-{name}", "default_count": 1} | extra
                    for name, extra in roles.items()
                }
            }
        },
    }


def composition(**after: tuple[str, ...]) -> Composition:
    return Composition(
        "c", tuple(Role(name, f"/s/{name}", after=needs) for name, needs in after.items())
    )


def test_roles_without_dependencies_are_one_level_in_manifest_order():
    assert activation_levels(composition(b=(), a=(), c=())) == [["b", "a", "c"]]


def test_levels_follow_the_dependencies():
    levels = activation_levels(
        composition(
            client=("server", "meta"), server=("meta",), meta=(), monitor=(), web=("client",)
        )
    )
    assert levels == [["meta", "monitor"], ["server"], ["client"], ["web"]]


def test_a_role_waiting_for_two_levels_goes_after_the_later_one():
    assert dependency_levels({"a": (), "b": ("a",), "c": ("a", "b")}, "x") == [
        ["a"],
        ["b"],
        ["c"],
    ]


@pytest.mark.parametrize(
    ("after", "cycle"),
    [
        ({"a": ("a",)}, "a -> a"),
        ({"a": ("b",), "b": ("a",)}, "a -> b -> a"),
        ({"x": (), "a": ("c",), "b": ("a",), "c": ("b",), "d": ("c",)}, "a -> c -> b -> a"),
    ],
)
def test_a_cycle_is_one_line_naming_it(after: dict[str, tuple[str, ...]], cycle: str):
    with pytest.raises(ManifestError) as caught:
        dependency_levels(after, "composition 'c'")
    message = str(caught.value)
    assert message == (
        f"composition 'c': roles wait for each other in a cycle ({cycle}) through nxc.after; "
        "remove one of these dependencies and rebuild it with 'nxc build'"
    )


def test_an_unknown_role_is_named_with_the_known_ones():
    with pytest.raises(ManifestError) as caught:
        activation_levels(composition(server=(), client=("srv",)))
    assert str(caught.value) == (
        "composition 'c': role 'client' waits for unknown role 'srv' (roles: server, client); "
        "fix its nxc.after and rebuild it with 'nxc build'"
    )


def test_the_manifest_round_trips_after_and_readiness():
    data = manifest_data(
        {
            "server": {"readiness": {"unit": "glusterd.service"}},
            "client": {"after": ["server"], "readiness": {"command": "mount | grep -q /data"}},
            "plain": {},
        }
    )
    manifest = from_dict(copy.deepcopy(data))
    roles = {role.name: role for role in manifest.compositions[0].roles}
    assert roles["server"] == Role(
        "server", "/nix/store/0000-server", readiness=RoleCheck(unit="glusterd.service")
    )
    assert roles["client"].after == ("server",)
    assert roles["client"].readiness == RoleCheck(command="mount | grep -q /data")
    assert (roles["plain"].after, roles["plain"].readiness) == ((), None)
    assert to_dict(manifest) == data
    assert manifest.compositions[0].activation_levels() == [["server", "plain"], ["client"]]


def test_roles_without_the_fields_are_written_as_before():
    data = manifest_data({"a": {}, "b": {"after": []}})
    written = to_dict(from_dict(data))["compositions"]["c"]["roles"]
    assert written == {
        "a": {"system": "/nix/store/0000-a", "default_count": 1},
        "b": {"system": "/nix/store/0000-b", "default_count": 1},
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            {"after": "server"},
            "role 'client': 'after' must be a list of role names, got 'server'; rebuild it",
        ),
        ({"after": [1]}, "'after' must be a list of role names, got [1]"),
        (
            {"after": ["nope"]},
            "role 'client' waits for unknown role 'nope' (roles: server, client)",
        ),
        ({"after": ["client"]}, "in a cycle (client -> client)"),
        ({"readiness": "x.service"}, "role 'client', readiness: must be a JSON object"),
        (
            {"readiness": {"unit": "a.service", "command": "true"}},
            "holds both a unit and a command; set exactly one of nxc.readiness.unit and "
            "nxc.readiness.command and rebuild it with 'nxc build'",
        ),
        ({"readiness": {}}, "holds neither a unit nor a command"),
        ({"readiness": {"unit": ""}}, "'unit' must be non-empty text, got ''"),
        ({"readiness": {"command": 3}}, "'command' must be non-empty text, got 3"),
        ({"readiness": {"path": "/x"}}, "unknown key 'path' (known: unit, command)"),
    ],
)
def test_bad_fields_are_one_clear_line(extra: dict[str, Any], expected: str):
    data = manifest_data({"server": {}, "client": extra})
    with pytest.raises(ManifestError) as caught:
        from_dict(data, "m.json")
    message = str(caught.value)
    assert expected in message
    assert message.startswith("m.json: composition 'c'")
    assert "\n" not in message


def test_a_check_is_a_unit_or_a_command():
    with pytest.raises(ManifestError, match="exactly one of the two"):
        RoleCheck()
    with pytest.raises(ManifestError, match="exactly one of the two"):
        RoleCheck(unit="a.service", command="true")
    assert check_command(RoleCheck(unit="a.service")) == ["systemctl", "is-active", "a.service"]
    assert check_command(RoleCheck(command="test -e /x")) == "test -e /x"
    assert RoleCheck(unit="a.service").describe() == "unit a.service"
    assert RoleCheck(command="test -e /x").describe() == "command 'test -e /x'"
