"""Stage 1 of the Grid'5000 flavours (g5k-ramdisk, g5k-nfs-store, g5k-image): the network
stage 1 brings up must survive until nxc's selection has run and, on g5k-nfs-store, under the
store; the initrd must carry the NIC drivers and NFSv3.

Here (no nixpkgs): real Nix reads the definitions nxc's own modules make
(tests/nix/flavour_definitions.nix, a stand-in `lib` that keeps mkIf/mkBefore/mkAfter as tags).
What nixpkgs does with them (initrd-network.nix's flush block, stage-1.nix's module closure) is
checked by the `nixos`-marked test, which evaluates the boot system with the locked nixpkgs.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.nix.conftest import NIX_LIBRARY, REPO, nix_environment

G5K_FLAVOURS = ["g5k-ramdisk", "g5k-nfs-store", "g5k-image", "vm-ramdisk"]
"""vm-ramdisk is g5k-ramdisk's boot system in local QEMU: the same stage 1."""
NIC_DRIVERS = {
    "igb",
    "ixgbe",
    "i40e",
    "ice",
    "mlx5_core",
    "bnxt_en",
    "tg3",
    "e1000e",
    "virtio_net",
    "virtio_pci",
}
READER = REPO / "tests" / "nix" / "flavour_definitions.nix"
SELECTION_MARK = "nxc_find_info && nxc_find_self"


def _definitions(flavour: str, *options: str) -> dict[str, list[dict]]:
    """Every definition nxc's modules make for ``options`` in the boot system of ``flavour``."""
    if shutil.which("nix-instantiate") is None:
        pytest.skip("needs nix-instantiate (Debian nix-bin)")
    option_list = "[ " + " ".join(json.dumps(o) for o in options) + " ]"
    result = subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "--json",
            str(READER),
            "--arg",
            "library",
            str(NIX_LIBRARY),
            "--argstr",
            "flavour",
            flavour,
            "--arg",
            "options",
            option_list,
        ],
        env=nix_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["definitions"]


def _values(definitions: list[dict]) -> list:
    return [d["value"] for d in definitions if d.get("condition", True)]


@pytest.mark.parametrize("flavour", G5K_FLAVOURS)
def test_stage_one_network_is_not_flushed_before_the_selection(flavour: str):
    """initrd-network.nix's flushBeforeStage2 defaults to true with the scripted initrd and
    flushes the interfaces in a default-order postMountCommands block: nxc turns it off, and
    keeps the scripted initrd its postMountCommands need."""
    found = _definitions(
        flavour,
        "boot.initrd.network.flushBeforeStage2",
        "boot.initrd.systemd.enable",
        "boot.initrd.postMountCommands",
    )
    assert _values(found["boot.initrd.network.flushBeforeStage2"]) == [False]
    assert _values(found["boot.initrd.systemd.enable"]) == [False]
    blocks = found["boot.initrd.postMountCommands"]
    selection = [b for b in blocks if SELECTION_MARK in b["value"]]
    assert len(selection) == 1 and selection[0]["condition"] is True
    others = [b.get("order", 1000) for b in blocks if b is not selection[0]]
    assert all(order < selection[0]["order"] for order in others)


@pytest.mark.parametrize("flavour", G5K_FLAVOURS)
def test_initrd_carries_the_nic_drivers(flavour: str):
    found = _definitions(flavour, "boot.initrd.availableKernelModules")
    listed = {m for value in _values(found["boot.initrd.availableKernelModules"]) for m in value}
    assert listed >= NIC_DRIVERS, NIC_DRIVERS - listed


def test_nfs_store_loads_nfsv3_and_keeps_the_network_under_the_store():
    found = _definitions(
        "g5k-nfs-store",
        "boot.initrd.kernelModules",
        "boot.initrd.postMountCommands",
        "networking.dhcpcd.persistent",
    )
    loaded = {m for value in _values(found["boot.initrd.kernelModules"]) for m in value}
    assert {"nfs", "nfsv3"} <= loaded
    assert _values(found["networking.dhcpcd.persistent"]) == [True]
    mount = [b for b in found["boot.initrd.postMountCommands"] if "nxc.nfs_store" in b["value"]]
    assert [b["order"] for b in mount] == [500]
    assert "mount -t nfs -o ro,nolock,vers=3 " in mount[0]["value"]


NIX_FEATURES = ("--extra-experimental-features", "nix-command flakes")
NIXOS_EXPRESSION = """
let
  locked = (builtins.fromJSON (builtins.readFile {repo}/flake.lock)).nodes.nixpkgs.locked;
  nixpkgs = builtins.getFlake "github:${{locked.owner}}/${{locked.repo}}/${{locked.rev}}";
  seam = import {repo}/nxc/nix/seam/nixos.nix {{
    inherit nixpkgs;
    system = "x86_64-linux";
    setup = {{ }};
  }};
  flavour = (import {repo}/nxc/nix/flavours.nix).{flavour};
  boot = (seam.evalRole {{ roleName = ""; module = {{ }}; inherit flavour; }}).config.boot;
in
{{
  flush = boot.initrd.network.flushBeforeStage2;
  systemd = boot.initrd.systemd.enable;
  modules = boot.initrd.availableKernelModules ++ boot.initrd.kernelModules;
  postMount = boot.initrd.postMountCommands;
}}
"""


@pytest.mark.nix
@pytest.mark.nixos
@pytest.mark.timeout(2400)  # the evaluation may fetch nixpkgs first (its own limit: 1800 s)
@pytest.mark.parametrize("flavour", G5K_FLAVOURS)
def test_boot_system_stage_one_with_real_nixpkgs(flavour: str, requires_nix: str):
    """Needs Nix with network access to nixpkgs (evaluation only, no build): the boot system
    as the seam evaluates it, with the nixpkgs of the repository's flake.lock. By hand:
    ``nix eval --impure --json --expr`` on NIXOS_EXPRESSION filled in."""
    expression = NIXOS_EXPRESSION.format(repo=REPO, flavour=json.dumps(flavour))
    result = subprocess.run(
        [requires_nix, *NIX_FEATURES, "eval", "--impure", "--json", "--expr", expression],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    boot = json.loads(result.stdout)
    assert boot["flush"] is False
    assert boot["systemd"] is False
    assert set(boot["modules"]) >= NIC_DRIVERS
    if flavour == "g5k-nfs-store":
        assert {"nfs", "nfsv3"} <= set(boot["modules"])
    script = boot["postMount"]
    assert "ip address flush" not in script  # initrd-network.nix's block is gone
    assert "ip link set dev" not in script.split(SELECTION_MARK)[0]
    assert script.index(SELECTION_MARK) > script.find("nxc.nfs_store=")
