"""Roles that wait for roles through the real Nix library: `nxc build` of the fixture project
(the test-bed seam, tests/fixtures/nixlib/seam.nix, hands compose.nix each role's `nxc`
definitions as the NixOS seam's config does) writes `after` and `readiness` into the manifest,
and a cycle, an unknown role or two checks are one clear error at build time. The NixOS module
itself (modules/activation.nix) is evaluated by real Nix with a stand-in for the few nixpkgs
names it uses (lib.mkOption, lib.mkIf, lib.types, pkgs.writeShellScriptBin: a mock, nixpkgs
cannot be had here); on real NixOS: tests/nix/test_nixos_activation.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import NIX_LIBRARY, nix_environment, run_nxc

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


# modules/activation.nix called as the NixOS module system would call it, for one role's nxc
# settings; mkIf kept visible as { condition, content }
MODULE_EVAL = """
let
  lib = {
    mkOption = option: option;
    mkIf = condition: content: { inherit condition content; };
    types = { str = "str"; listOf = t: "list of ${t}"; nullOr = t: "null or ${t}"; };
  };
  pkgs.writeShellScriptBin = name: text: { inherit name text; };
  module = import MODULE;
  evaluate = nxc:
    let
      result = module {
        inherit lib pkgs;
        config = { inherit nxc; systemd.package = "/nix/store/0-systemd"; };
      };
      target = result.config.systemd.targets.nxc-activate;
      assertion = builtins.head result.config.assertions;
    in {
      options = builtins.attrNames result.options.nxc;
      checks = builtins.attrNames result.options.nxc.readiness;
      inherit (target) description;
      wanted_at_boot = target.wantedBy.condition;
      wanted_by = target.wantedBy.content;
      command = builtins.head result.config.environment.systemPackages;
      assertion_holds = assertion.assertion;
      inherit (assertion) message;
    };
in {
  boot = evaluate { role = "server"; after = [ ]; readiness = { unit = "a.service"; command = null; }; };
  waiting = evaluate { role = "client"; after = [ "server" ]; readiness = { unit = null; command = null; }; };
  both = evaluate { role = "x"; after = [ ]; readiness = { unit = "a.service"; command = "true"; }; };
}
"""


def test_the_module_holds_back_the_target_only_for_waiting_roles(requires_nix):
    expression = MODULE_EVAL.replace("MODULE", str(NIX_LIBRARY / "modules" / "activation.nix"))
    result = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True, text=True, env=nix_environment(), check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)
    boot, waiting, both = evaluated["boot"], evaluated["waiting"], evaluated["both"]
    assert boot["options"] == ["after", "readiness"]
    assert boot["checks"] == ["command", "unit"]
    assert boot["description"] == "nxc: the composition's units that wait for other roles"
    assert (boot["wanted_at_boot"], boot["wanted_by"]) == (True, ["multi-user.target"])
    assert waiting["wanted_at_boot"] is False
    assert waiting["command"]["name"] == "nxc-activate"
    assert waiting["command"]["text"].strip() == (
        "exec /nix/store/0-systemd/bin/systemctl start nxc-activate.target"
    )
    assert boot["assertion_holds"] and waiting["assertion_holds"]
    assert both["assertion_holds"] is False
    assert both["message"] == (
        "nxc: role 'x' sets both nxc.readiness.unit and nxc.readiness.command; keep one of the two"
    )
