"""Roles that wait for roles through the real Nix library: `nxc build` of the fixture project
(the test-bed seam, tests/fixtures/nixlib/seam.nix, hands compose.nix each role's `nxc`
definitions as the NixOS seam's config does) writes `after` and `readiness` into the manifest,
and a cycle, an unknown role or two checks are one clear error at build time. The NixOS module
itself (modules/activation.nix) needs nixpkgs: tests/nix/test_nixos_activation.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import run_nxc

pytestmark = pytest.mark.nix


def build(project: Path, roles: str):
    (project / "flavours.nix").write_text('[ "vm" ]')
    (project / "composition.nix").write_text(f"{{ ... }}: {{ roles = {{ {roles} }}; }}\n")
    return run_nxc("build", "-f", "vm", cwd=project)


def test_the_manifest_carries_after_and_readiness(fixture_project: Path):
    result = build(
        fixture_project,
        'server = { nxc.readiness.unit = "glusterd.service"; }; '
        'client = { nxc.after = [ "server" ]; nxc.readiness.command = "mount | grep /data"; }; '
        'monitor = { nxc.readiness = { unit = null; command = "true"; }; }; '
        "plain = { };",
    )
    assert result.returncode == 0, result.stderr
    path = fixture_project / "build" / "composition::vm" / "manifest.json"
    roles = json.loads(path.read_text())["compositions"]["composition"]["roles"]
    assert roles["server"]["readiness"] == {"unit": "glusterd.service"}
    assert "after" not in roles["server"]
    assert roles["client"]["after"] == ["server"]
    assert roles["client"]["readiness"] == {"command": "mount | grep /data"}
    assert roles["monitor"]["readiness"] == {"command": "true"}
    assert "after" not in roles["plain"] and "readiness" not in roles["plain"]
    composition = load(path).compositions[0]
    assert composition.activation_levels() == [["monitor", "plain", "server"], ["client"]]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (
            'a = { nxc.after = [ "b" ]; }; b = { nxc.after = [ "c" ]; }; c = { nxc.after = [ "a" ]; };',
            "composition 'composition': roles wait for each other in a cycle "
            "(a -> b -> c -> a) through nxc.after; remove one of these dependencies",
        ),
        (
            'a = { nxc.after = [ "a" ]; };',
            "composition 'composition': roles wait for each other in a cycle (a -> a) through "
            "nxc.after; remove one of these dependencies",
        ),
        (
            'server = { }; client = { nxc.after = [ "srv" ]; };',
            "composition 'composition': role 'client' waits for unknown role(s) srv in "
            "nxc.after (roles: client, server); fix its nxc.after",
        ),
        (
            'a = { nxc.after = "b"; }; b = { };',
            "nxc.after of role 'a' in composition 'composition' must be a list of role names, "
            'got "b"',
        ),
        (
            'a = { nxc.readiness = { unit = "x.service"; command = "true"; }; };',
            "role 'a' of composition 'composition' sets both nxc.readiness.unit and "
            "nxc.readiness.command; keep one of the two",
        ),
    ],
    ids=["cycle", "self", "unknown-role", "after-not-a-list", "two-checks"],
)
def test_bad_dependencies_fail_the_build_with_one_clear_error(
    fixture_project: Path, roles: str, message: str
):
    result = build(fixture_project, roles)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == f"nxc: error: {message}"
    assert "Traceback" not in result.stderr
    assert not (fixture_project / "build" / "composition::vm").exists()
