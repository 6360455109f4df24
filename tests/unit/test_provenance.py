"""Provenance from real files: hand-written flake.lock files (follows, indirections), a build
manifest and deployment records as nxc writes them. No OAR is asked: the OAR job and hosts come
from the record, host properties from the caller (as the Grid'5000 flavours would pass them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nxc
from nxc import manifest as manifest_module
from nxc.deployment import Deployment, Node
from nxc.errors import ProjectError
from nxc.provenance import collect, locked_nixpkgs, render_markdown

REV = "1f08a4df998e21f4e8be8fb6fbf61d11a1a5076a"
OTHER_REV = "0123456789abcdef0123456789abcdef01234567"


def locked(rev: str, modified: int = 1753749649) -> dict:
    return {
        "lastModified": modified,
        "narHash": f"sha256-{rev[:8]}=",
        "owner": "NixOS",
        "repo": "nixpkgs",
        "rev": rev,
        "type": "github",
    }


def write_lock(folder: Path, nodes: dict, root_inputs: dict) -> Path:
    """A flake.lock of the shape ``nix flake lock`` writes (version 7)."""
    lock = {"nodes": {**nodes, "root": {"inputs": root_inputs}}, "root": "root", "version": 7}
    path = folder / "flake.lock"
    path.write_text(json.dumps(lock, indent=2))
    return path


def nxc_and_nixpkgs(nxc_inputs: dict) -> dict:
    """Nodes of a project using nxc's flake, which has a nixpkgs of its own (nixpkgs_2)."""
    return {
        "nixpkgs": {"locked": locked(REV), "original": {"id": "nixpkgs", "type": "indirect"}},
        "nixpkgs_2": {"locked": locked(OTHER_REV, 1700000000)},
        "nxc": {
            "inputs": nxc_inputs,
            "locked": {"type": "path", "path": "/src/nxc", "narHash": "sha256-n="},
        },
    }


def test_root_input_by_node_name(tmp_path):
    path = write_lock(tmp_path, nxc_and_nixpkgs({"nixpkgs": "nixpkgs_2"}), {"nixpkgs": "nixpkgs"})
    pinned = locked_nixpkgs(path)
    assert pinned is not None
    assert (pinned["node"], pinned["rev"], pinned["narHash"]) == (
        "nixpkgs",
        REV,
        f"sha256-{REV[:8]}=",
    )
    assert pinned["lastModified"] == 1753749649
    assert pinned["lastModifiedDate"] == "2025-07-29T00:40:49Z"
    assert pinned["original"] == {"id": "nixpkgs", "type": "indirect"}


def test_root_input_following_another_flakes_input(tmp_path):
    """``inputs.nixpkgs.follows = "nxc/nixpkgs"``: the root's nixpkgs is a path, and nxc's
    nixpkgs itself follows a path (an indirection through another follows)."""
    nodes = nxc_and_nixpkgs({"nixpkgs": ["nxc", "pinned"], "pinned": "nixpkgs_2"})
    path = write_lock(tmp_path, nodes, {"nxc": "nxc", "nixpkgs": ["nxc", "nixpkgs"]})
    pinned = locked_nixpkgs(path)
    assert pinned is not None
    assert (pinned["node"], pinned["rev"]) == ("nixpkgs_2", OTHER_REV)


def test_this_repositorys_own_lock():
    pinned = locked_nixpkgs(Path(__file__).parents[2] / "flake.lock")
    assert pinned is not None and len(pinned["rev"]) == 40 and pinned["narHash"]


@pytest.mark.parametrize(
    ("root_inputs", "nxc_inputs", "says"),
    [
        ({"nixpkgs": ["nxc", "missing"], "nxc": "nxc"}, {}, "has no input 'missing'"),
        ({"nixpkgs": "gone"}, {}, "names no node 'gone'"),
        ({"nixpkgs": ["nixpkgs"]}, {}, "loop"),
        ({"nixpkgs": ["nxc", "x"], "nxc": "nxc"}, {"x": ["nixpkgs"]}, "loop"),
    ],
)
def test_broken_follows_are_project_errors(tmp_path, root_inputs, nxc_inputs, says):
    path = write_lock(tmp_path, nxc_and_nixpkgs(nxc_inputs), root_inputs)
    with pytest.raises(ProjectError, match=says) as caught:
        locked_nixpkgs(path)
    assert str(path) in str(caught.value)


def test_no_nixpkgs_input_and_unreadable_lock(tmp_path):
    path = write_lock(tmp_path, {}, {})
    assert locked_nixpkgs(path) is None
    path.write_text("{ not json")
    with pytest.raises(ProjectError, match="cannot read the lock file"):
        locked_nixpkgs(path)


def g5k_deployment() -> Deployment:
    nodes = [
        Node("server1", "server", "172.16.20.1", "dahu-1.grenoble.grid5000.fr"),
        Node("client1", "client", "172.16.20.2", "dahu-2.grenoble.grid5000.fr"),
    ]
    deployment = Deployment("composition", "g5k-ramdisk", nodes=nodes, manifest="/p/build/m.json")
    deployment.resources["oar"] = {
        "oar_job_id": 2345678,
        "created_by_nxc": True,
        "frontend": {"host": "grenoble", "ssh_options": []},
        "name": "nxc-0123456789ab",
    }
    deployment.resources["hosts"] = [node.ssh_host for node in nodes]
    return deployment


def a_manifest() -> manifest_module.Manifest:
    store = "/nix/store/" + "a" * 32
    return manifest_module.from_dict(
        {
            "nxc_manifest": 1,
            "flavour": "g5k-ramdisk",
            "system": "x86_64-linux",
            "compositions": {
                "composition": {
                    "roles": {
                        "server": {"system": f"{store}-nixos-system-server"},
                        "client": {"system": f"{store}-nixos-system-client"},
                    },
                    "artefacts": {
                        "kernel": f"{store}-linux/bzImage",
                        "initrd": f"{store}-initrd/initrd",
                        "cmdline": "console=ttyS0",
                    },
                }
            },
        }
    )


def test_collect_gathers_version_nixpkgs_store_paths_and_platform(tmp_path):
    write_lock(tmp_path, nxc_and_nixpkgs({}), {"nixpkgs": "nixpkgs", "nxc": "nxc"})
    properties = {"dahu-1.grenoble.grid5000.fr": {"cluster": "dahu", "memnode": 196608}}
    provenance = collect(
        tmp_path,
        g5k_deployment(),
        a_manifest(),
        kernel_params=["mitigations=off"],
        host_properties=properties,
    )
    assert json.loads(json.dumps(provenance)) == provenance
    assert provenance["nxc_version"] == nxc.__version__
    assert provenance["nixpkgs"]["rev"] == REV
    assert provenance["flake_lock"] == str(tmp_path / "flake.lock")
    composition = provenance["manifest"]["compositions"]["composition"]
    assert composition["systems"]["server"].endswith("-nixos-system-server")
    assert composition["kernel"].endswith("/bzImage") and composition["initrd"].endswith("/initrd")
    assert provenance["manifest"]["path"] == "/p/build/m.json"
    assert provenance["kernel_params"] == ["mitigations=off"]
    platform = provenance["platform"]
    assert platform["oar_jobs"] == [
        {"job_id": 2345678, "frontend": "grenoble", "name": "nxc-0123456789ab"}
    ]
    assert platform["hosts"] == ["dahu-1.grenoble.grid5000.fr", "dahu-2.grenoble.grid5000.fr"]
    assert platform["host_properties"] == properties
    assert platform["nodes"][1] == {
        "hostname": "client1",
        "role": "client",
        "address": "172.16.20.2",
        "host": "dahu-2.grenoble.grid5000.fr",
    }

    text = render_markdown(provenance)
    assert text.startswith("## Provenance of deployment `composition::g5k-ramdisk`")
    for fragment in (
        f"rev `{REV}`",
        "lastModified 2025-07-29T00:40:49Z",
        "| composition | role `server` | `/nix/store/",
        "| composition | kernel | `/nix/store/",
        "- OAR jobs: 2345678 on grenoble",
        "| client1 | client | 172.16.20.2 | dahu-2.grenoble.grid5000.fr |",
        "| dahu-1.grenoble.grid5000.fr | cluster=dahu, memnode=196608 |",
        "`mitigations=off`",
    ):
        assert fragment in text, fragment


def test_collect_without_lock_or_manifest_says_so(tmp_path):
    deployment = Deployment(
        "composition", "vm", nodes=[Node("node1", "node", "10.0.0.1", "127.0.0.1", 2201)]
    )
    provenance = collect(tmp_path, deployment)
    assert provenance["nixpkgs"] is None and provenance["manifest"] is None
    assert (
        provenance["platform"]["oar_jobs"] == [] and "host_properties" not in provenance["platform"]
    )
    text = render_markdown(provenance)
    assert "- nixpkgs: not pinned (no flake.lock)" in text
    assert "Build manifest: not available." in text
    assert "- hosts: none (local flavour)" in text
