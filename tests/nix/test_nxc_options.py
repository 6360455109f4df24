"""NixOS-Compose's `nxc.users`, `nxc.sharedDirs` and `nxc.root-sshKeys` (nxc/nix/modules/),
read by real Nix from a project shaped like NixOS-Compose users' projects
(tests/fixtures/nxc-users-shared-dirs).

nixpkgs cannot be had here: tests/fixtures/nxcmodules/eval.nix stands in for NixOS' module
system (a mock, for nixpkgs only) to show what the modules make of each role; the project is
also built through the real NixOS seam with tests/fixtures/fakenixpkgs. The `nixos`-marked test
boots the project on VMs with real nixpkgs where Nix has network.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nxc.manifest import load
from tests.nix.conftest import NIX_LIBRARY, REPO, nix_environment, run_nxc
from tests.nix.test_nixos_compose_compat import _seam_project

pytestmark = pytest.mark.nix

EVAL = REPO / "tests" / "fixtures" / "nxcmodules" / "eval.nix"
PROJECT = REPO / "tests" / "fixtures" / "nxc-users-shared-dirs"


def evaluate(composition: Path, role: str, container: bool = False) -> dict[str, Any]:
    """``{"nxc": <the role's nxc options>, "settings": <what the modules give NixOS>}``."""
    result = subprocess.run(
        [
            "nix-instantiate", "--eval", "--strict", "--json", str(EVAL),
            "--arg", "library", str(NIX_LIBRARY),
            "--arg", "composition", str(composition),
            "--argstr", "role", role,
            "--arg", "container", "true" if container else "false",
        ],
        capture_output=True, text=True, env=nix_environment(), check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def composition_file(tmp_path: Path, roles: str) -> Path:
    """A composition.nix with the given roles (Nix attribute set body)."""
    path = tmp_path / "composition.nix"
    path.write_text(f"{{ pkgs, ... }}: {{ roles = {{ {roles} }}; }}\n")
    return path


def units(settings: dict[str, Any]) -> dict[str, Any]:
    return settings.get("systemd", {}).get("services", {})


def test_users_get_the_same_uids_and_homes_on_every_role(requires_nix):
    """NixOS-Compose's `nxc.users = { names; prefixHome; }`, fixed uids in the names' order."""
    for role in ("server", "storage", "client"):
        users = evaluate(PROJECT / "composition.nix", role)["settings"]["users"]["users"]
        assert users == {
            name: {
                "isNormalUser": True,
                "uid": uid,
                "group": "users",
                "extraGroups": [],
                "home": f"/users/{name}",
                "createHome": True,
            }
            for name, uid in (("alice", 1000), ("bob", 1001))
        }, role


def test_users_default_home_uid_base_and_groups(tmp_path: Path, requires_nix):
    composition = composition_file(
        tmp_path,
        'node = { nxc.users = { names = [ "u" ]; firstUid = 2000; extraGroups = [ "wheel" ]; }; };'
        " other = { };",
    )
    user = evaluate(composition, "node")["settings"]["users"]["users"]["u"]
    assert (user["home"], user["uid"], user["extraGroups"]) == ("/home/u", 2000, ["wheel"])
    assert "users" not in evaluate(composition, "other")["settings"]


def test_exporting_roles_serve_their_directory_over_nfs(requires_nix):
    for role, directory in (("server", "/users"), ("storage", "/data")):
        settings = evaluate(PROJECT / "composition.nix", role)["settings"]
        server = settings["services"]["nfs"]["server"]
        assert server["enable"] is True and server["createMountPoints"] is True
        # an explicit fsid: the vm flavour's root is a tmpfs
        assert server["exports"] == (
            f"{directory} *(rw,sync,no_subtree_check,no_root_squash,fsid=1)\n"
        )
        assert not [name for name in units(settings) if name.startswith("nxc-shared-dir")]


def test_mounting_roles_wait_for_their_servers_before_sshd(requires_nix):
    settings = evaluate(PROJECT / "composition.nix", "client")["settings"]
    assert "nfs" not in settings["services"]
    assert settings["boot"]["supportedFilesystems"] == ["nfs"]
    mounts = {name: unit for name, unit in units(settings).items() if "shared-dir" in name}
    assert set(mounts) == {"nxc-shared-dir-users", "nxc-shared-dir-data"}
    arguments = {
        name: unit["serviceConfig"]["ExecStart"].split()[1:] for name, unit in mounts.items()
    }
    # the homes of nxc.users under /users are made on the share if the server lacks them
    assert arguments["nxc-shared-dir-users"] == [
        "nfs", "/users", "server", "300", "1000:/users/alice", "1001:/users/bob",
    ]  # fmt: skip
    assert arguments["nxc-shared-dir-data"] == ["nfs", "/data", "storage", "300"]
    for unit in mounts.values():
        assert unit["after"] == ["nxc-node.service", "network.target"]
        assert {"sshd.service", "remote-fs.target"} <= set(unit["before"])
        assert set(unit["wantedBy"]) == {"multi-user.target", "remote-fs.target"}
        config = unit["serviceConfig"]
        assert (config["Type"], config["RemainAfterExit"]) == ("oneshot", True)
        # the script's own deadline (300 s) comes first: boot never waits forever
        assert int(config["TimeoutStartSec"]) > 300


def test_containers_share_a_folder_instead_of_nfs(requires_nix):
    """The docker flavour (boot.isContainer): no kernel NFS server; both sides bind-mount."""
    server = evaluate(PROJECT / "composition.nix", "server", container=True)["settings"]
    client = evaluate(PROJECT / "composition.nix", "client", container=True)["settings"]
    assert "nfs" not in server["services"] and "boot" not in client
    exported = units(server)["nxc-shared-dir-users"]["serviceConfig"]["ExecStart"].split()[1:]
    assert exported == ["bind", "/users", "export", "1000:/users/alice", "1001:/users/bob"]
    mounted = units(client)["nxc-shared-dir-data"]["serviceConfig"]["ExecStart"].split()[1:]
    assert mounted == ["bind", "/data", "mount"]


def test_export_wins_over_a_server_set_by_a_shared_module(tmp_path: Path, requires_nix):
    composition = composition_file(
        tmp_path,
        'server = { imports = [ { nxc.sharedDirs."/users".server = "server"; } ];'
        ' nxc.sharedDirs."/users".export = true; };',
    )
    settings = evaluate(composition, "server")["settings"]
    assert settings["services"]["nfs"]["server"]["enable"] is True
    assert "nxc-shared-dir-users" not in units(settings)


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ('"users".export = true', 'nxc.sharedDirs."users": a shared directory must be an absolute'),
        ('"/a b".export = true', 'nxc.sharedDirs."/a b": a shared directory must be an absolute'),
        ('"/data".server = "a b"', 'nxc.sharedDirs."/data".server = "a b": give a role name'),
    ],
    ids=["relative", "space", "bad-server"],
)
def test_bad_shared_directories_are_refused_with_what_to_fix(
    tmp_path: Path, requires_nix, definition: str, message: str
):
    """NixOS refuses a system whose assertions fail, printing their messages."""
    composition = composition_file(tmp_path, f"node = {{ nxc.sharedDirs.{definition}; }};")
    assertions = evaluate(composition, "node")["settings"]["assertions"]
    assert [a["assertion"] for a in assertions] == [False]
    assert assertions[0]["message"].startswith(message)


def test_root_key_is_opt_in_and_always_scrubbed(tmp_path: Path, requires_nix):
    """Enabled: root's pair installed, root's own authorized_keys read by sshd. Every role
    removes the private key from /run/nxc/info.json, enabled or not."""
    enabled = evaluate(PROJECT / "composition.nix", "client")["settings"]
    unit = units(enabled)["nxc-root-ssh-key"]
    assert unit["serviceConfig"]["ExecStart"].split()[1:] == ["install"]
    assert unit["after"] == ["nxc-node.service"]
    assert set(unit["before"]) == {"sshd.service", "systemd-user-sessions.service"}
    assert enabled["services"]["openssh"]["authorizedKeysFiles"] == ["%h/.ssh/authorized_keys"]
    disabled = evaluate(composition_file(tmp_path, "node = { };"), "node")["settings"]
    assert units(disabled)["nxc-root-ssh-key"]["serviceConfig"]["ExecStart"].split()[1:] == [
        "scrub"
    ]
    assert "authorizedKeysFiles" not in disabled.get("services", {}).get("openssh", {})


def test_project_builds_through_the_real_nixos_seam(tmp_path: Path, requires_nix):
    """The seam lists the modules (the fake nixosSystem checks that they exist) and the
    NixOS-Compose-shaped project builds: every role, the clients counted twice."""
    project = _seam_project(tmp_path, "import ./composition.nix")
    shutil.copyfile(PROJECT / "composition.nix", project / "composition.nix")
    result = run_nxc("build", "-f", "vm", cwd=project)
    assert result.returncode == 0, result.stderr
    manifest = load(project / "build" / "composition::vm" / "manifest.json")
    counts = {role.name: role.default_count for role in manifest.compositions[0].roles}
    assert counts == {"server": 1, "storage": 1, "client": 2}
    seam = (NIX_LIBRARY / "seam" / "nixos.nix").read_text()
    for module in ("users.nix", "shared-dirs.nix", "root-ssh-key.nix"):
        assert f"../modules/{module}" in seam


@pytest.mark.nixos
@pytest.mark.vm
@pytest.mark.parametrize("flavour", ["vm", "vm-ramdisk"])
def test_project_runs_on_vms(tmp_path: Path, requires_nix, flavour: str):
    """Needs Nix with network access to nixpkgs. vm delivers `root_ssh_key` and the nodes'
    `host_public_key` in the deployment info (fw_cfg); vm-ramdisk, booted as kexec boots
    Grid'5000 hosts, gets the info by URL and each node fetches the root key's private half
    once from the info server (nxc.root-sshKeys). The project's test script: a client reads and
    writes in storage's /data, alice's and bob's homes exist on every node (on the clients:
    server's /users), root SSHes between nodes."""
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    match = re.search(r'nxc\.url = "([^"]+)"', (project / "flake.nix").read_text())
    assert match is not None
    (project / "flake.nix").write_text(
        (PROJECT / "flake.nix").read_text().replace("NXC_URL", match.group(1))
    )
    shutil.copyfile(PROJECT / "composition.nix", project / "composition.nix")
    built = run_nxc("build", "-f", flavour, cwd=project, timeout=3 * 3600)
    assert built.returncode == 0, built.stderr
    started = run_nxc("start", "-f", flavour, "-t", cwd=project, timeout=3600)
    assert started.returncode == 0, started.stdout + started.stderr
