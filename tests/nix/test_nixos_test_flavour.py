"""The nixos-test flavour through the real library and the real NixOS seam, with real Nix.

nixpkgs (and so its test framework) cannot be had here: tests/fixtures/fakenixpkgs stands in,
its `testers.runNixOSTest` (testers.nix) recording what the seam hands the framework and
failing when the script contains `raise Exception`. What this proves: the nodes the
composition's roles and rolesDistribution give (hostnames as `nxc start` names them), the
modules every node gets (nxc's, the flavour's), the script, that `nxc.lib.compose` makes the
`<composition>::nixos-test` output the test itself, and what `nxc/build.py` does with it
(a result and its log when the test passes, `TestScriptError` naming the log when it fails).
That NixOS accepts the modules and the test runs: `test_nixos_test_flavour_nixos.py`.

The flavour table (nxc/nix/flavours.json) is another change's file: the copied library gets
the entry the flavour needs (:data:`TABLE_ENTRY`), and the Python side is called directly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from nxc.build import TEST_FLAVOUR, build_output, check_deployable, check_output, list_outputs
from nxc.errors import InputError, TestScriptError
from nxc.nix_cli import NixCommand
from tests.nix.conftest import NIX_LIBRARY, REPO, nix_environment

pytestmark = pytest.mark.nix

FAKE = REPO / "tests" / "fixtures" / "fakenixpkgs"
SYSTEM = "x86_64-linux"
TABLE_ENTRY = {
    "description": "the composition run as a NixOS test (nixpkgs' test framework) by nxc build",
    "produces": "the test's result; building it runs the test",
    "all_in_one": False,
    "options": [],
}

COMPOSE_ARGS = """
{
  flavours = [ "nixos-test" "vm" ];
  compositions = import ./compositions.nix;
}
"""

COMPOSITIONS = """
{
  cluster = {
    roles = {
      server = { pkgs, ... }: { };
      client = { };
      big-node = { };
    };
    rolesDistribution = { client = 3; big-node = 1; };
    testScript = ''
      start_all()
      server.succeed("true")  # RUN
    '';
  };
  broken = {
    roles.node = { };
    testScript = ''
      raise Exception("the node is not what it should be")  # RUN
    '';
  };
  silent = {
    roles.node = { };
  };
}
"""


@pytest.fixture
def project(tmp_path: Path, requires_nix: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project of three compositions on the real library (with the flavour's table entry)."""
    for key, value in nix_environment().items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(NIX_LIBRARY, root / "nxc-nix")
    table_path = root / "nxc-nix" / "flavours.json"
    table = json.loads(table_path.read_text())
    table[TEST_FLAVOUR] = TABLE_ENTRY
    table_path.write_text(json.dumps(table))
    shutil.copytree(FAKE, root / "fakenixpkgs")
    shutil.copyfile(FAKE / "project-flake.nix", root / "flake.nix")
    (root / "compose-args.nix").write_text(COMPOSE_ARGS)
    # a script of its own each time, so that Nix runs the test rather than reuse a result
    (root / "compositions.nix").write_text(COMPOSITIONS.replace("RUN", uuid.uuid4().hex))
    return root


def _build(project: Path, output: str):
    return build_output(NixCommand.find(), project, project / "build", output, SYSTEM)


def test_a_passing_test_is_a_result_and_its_log(project: Path):
    result = _build(project, "cluster::nixos-test")
    assert result.test and result.manifest is None
    assert result.link == project / "build" / "cluster::nixos-test"
    assert result.link.resolve() == result.store_path
    record = json.loads((result.link / "nxc-test.json").read_text())
    assert record["name"] == "cluster"
    # nxc start's names for the defaults: one node is named after its role, more are numbered
    assert {name: node["role"] for name, node in record["nodes"].items()} == {
        "server": "server",
        "client1": "client",
        "client2": "client",
        "client3": "client",
        "big-node": "big-node",
    }
    for node in record["nodes"].values():
        assert node["imports"][:6] == [
            "base.nix",
            "users.nix",
            "shared-dirs.nix",
            "root-ssh-key.nix",
            "activation.nix",
            "nixos-test.nix",
        ]
        assert len(node["imports"]) == 8  # + the overlays, + the role's module
    assert record["pkgs_read_only"] is False
    assert set(record["special_args"]) == {"flavour", "helpers", "nur", "setup"}
    assert record["test_script"].startswith("start_all()\nserver.succeed")
    log = result.log.read_text()
    assert "fake test driver: running the test script of cluster" in log


def test_a_failing_test_names_its_log_and_leaves_no_result(project: Path):
    _build(project, "cluster::nixos-test")
    (project / "build" / "broken::nixos-test").symlink_to(project / "build" / "cluster::nixos-test")
    with pytest.raises(TestScriptError) as failure:
        _build(project, "broken::nixos-test")
    message = str(failure.value)
    assert message.startswith("the NixOS test broken::nixos-test failed: ")
    assert "-vm-test-run-broken.drv" in message
    log = project / "build" / "broken::nixos-test.log"
    assert f"(full log: {log})" in message
    assert "fake test driver: the test script raised" in log.read_text()
    assert not (project / "build" / "broken::nixos-test").is_symlink()


def test_a_composition_without_test_script_boots_its_nodes(project: Path):
    result = _build(project, "silent::nixos-test")
    script = json.loads((result.link / "nxc-test.json").read_text())["test_script"]
    assert script.splitlines() == [
        "start_all()",
        "for machine in machines:",
        '    machine.wait_for_unit("multi-user.target")',
    ]


def test_one_output_per_composition_and_no_all_in_one_test(project: Path):
    names = list_outputs(NixCommand.find(), project, SYSTEM)
    tests = [name for name in names if name.endswith("::nixos-test")]
    assert tests == ["broken::nixos-test", "cluster::nixos-test", "silent::nixos-test"]
    assert "::vm" in names  # several compositions: vm has its all-in-one output, tests do not


def test_check_evaluates_each_role_as_its_first_node(project: Path):
    checked, problems = check_output(NixCommand.find(), project, SYSTEM, "cluster::nixos-test")
    assert problems == []
    assert checked == ["cluster.big-node", "cluster.client", "cluster.server"]


def test_start_refuses_the_flavour_in_one_line():
    with pytest.raises(InputError) as refusal:
        check_deployable(TEST_FLAVOUR)
    message = str(refusal.value)
    assert "\n" not in message
    assert "'nxc build -f nixos-test'" in message and "'nxc start -t'" in message
    check_deployable("vm")
    check_deployable(None)


# nixpkgs' lib cannot be had: the few functions the module calls, as lib defines them
MODULE_CALL = """
let
  digits = "0123456789ABCDEF";
  hex = n: (if n >= 16 then hex (n / 16) else "") + builtins.substring (n - n / 16 * 16) 1 digits;
  lib = {
    toHexString = hex;
    optionalAttrs = cond: attrs: if cond then attrs else { };
    mkDefault = value: { _priority = 1000; inherit value; };
    mkOverride = priority: value: { _priority = priority; inherit value; };
  };
  node = name: number: role: vlans: {
    networking.hostName = name;
    networking.primaryIPAddress = if vlans == [ ] then "" else "192.168.1.${toString number}";
    nxc.role = role;
    virtualisation.vlans = vlans;
    virtualisation.test.nodeNumber = number;
  };
  nodes = {
    client1 = node "client1" 1 "client" [ 1 ];
    client2 = node "client2" 2 "client" [ 1 2 ];
    isolated = node "isolated" 3 "client" [ ];
    server = node "server" 17 "server" [ 1 ];
  };
  module = import MODULE {
    inherit lib nodes;
    config.virtualisation.test.nodeName = "client2";
  };
in
{
  inherit (module) nxc networking;
  info = builtins.fromJSON module.environment.etc."nxc/info.json".text;
}
"""


def test_the_flavour_module_gives_each_node_the_framework_s_addresses(requires_nix: str):
    """The deployment info nixos-test.nix writes, from the framework's nodes: addresses, the
    MACs of qemu-common.nix (52:54:00:12:<vlan>:<node>, two hex digits each), no entry for a
    node without an address; the node's own name as hostName, over base.nix's mkDefault."""
    expression = MODULE_CALL.replace("MODULE", str(NIX_LIBRARY / "flavours" / "nixos-test.nix"))
    evaluated = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True, text=True, env=nix_environment(), check=True, timeout=120,
    )  # fmt: skip
    module = json.loads(evaluated.stdout)
    assert module["nxc"] == {"stage1Selection": False}
    assert module["networking"]["hostName"] == {"_priority": 999, "value": "client2"}
    info = module["info"]
    assert info["network"] == {"prefix_length": 24} and info["authorized_keys"] == []
    assert info["nodes"] == [
        {"hostname": "client1", "role": "client", "address": "192.168.1.1",
         "mac": "52:54:00:12:01:01"},
        {"hostname": "client2", "role": "client", "address": "192.168.1.2",
         "mac": "52:54:00:12:01:02"},
        {"hostname": "server", "role": "server", "address": "192.168.1.17",
         "mac": "52:54:00:12:01:11"},
    ]  # fmt: skip
