"""The one deployment-info builder: parameters, the root key, what each flavour adds; the
deployment parameters from ``-p`` to the record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nxc import keys
from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.deployment_info import (
    InfoExtras,
    build_info,
    deployment_root_key,
    holds_secret,
    root_key_path,
)
from nxc.errors import InputError
from nxc.manifest import Artefacts, Composition, Manifest, Role
from nxc.plan import parse_parameters


def manifest_of(flavour: str, root_key: bool = False, artefacts: Artefacts | None = None):
    roles = (
        Role("server", "/nix/store/aaa-server", 1, root_ssh_key=root_key),
        Role("client", "/nix/store/bbb-client", 1),
    )
    composition = Composition("composition", roles, artefacts=artefacts or Artefacts())
    return Manifest(flavour, "x86_64-linux", (composition,))


def placed(flavour: str = "vm", parameters: dict[str, str] | None = None) -> Deployment:
    nodes = [
        Node("server", "server", address="10.1.0.1", ssh_host="127.0.0.1", mac="52:54:00:01:00:01"),
        Node("client", "client", address="10.1.0.2", ssh_host="127.0.0.1", mac="52:54:00:01:00:02"),
    ]
    for node in nodes:
        node.host_key = keys.generate_keypair(node.hostname).public_line
    return Deployment("composition", flavour, nodes=nodes, parameters=parameters or {})


def test_the_info_lists_nodes_keys_parameters_and_what_the_flavour_adds(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    deployment = placed(parameters={"gluster_volume": "replica:2"})
    extras = InfoExtras(16, {"type": "9p", "tag": "nxcshared"})
    info = build_info(deployment, store, manifest_of("vm"), extras)
    client = store.client_key_path(deployment.name)
    assert info["authorized_keys"] == [keys.public_key_path(client).read_text().strip()]
    assert info["network"] == {"prefix_length": 16}
    assert info["shared_dir"] == {"type": "9p", "tag": "nxcshared"}
    assert info["parameters"] == {"gluster_volume": "replica:2"}
    assert info["nodes"][1] == {
        "hostname": "client",
        "role": "client",
        "address": "10.1.0.2",
        "mac": "52:54:00:01:00:02",
        "system": "/nix/store/bbb-client",
    }
    assert not holds_secret(info) and not root_key_path(store, deployment.name).exists()


def test_physical_hosts_get_no_mac_no_network_no_parameters_when_none(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    info = build_info(
        placed("g5k-ramdisk"), store, manifest_of("g5k-ramdisk"), InfoExtras(with_macs=False)
    )
    assert "mac" not in info["nodes"][0]
    assert not {"network", "shared_dir", "parameters"} & set(info)


def test_a_composition_wanting_the_root_key_gets_one_kept_pair_and_the_host_keys(
    tmp_path: Path,
) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    deployment = placed()
    info = build_info(deployment, store, manifest_of("vm", root_key=True))
    assert holds_secret(info)
    private = info["root_ssh_key"]["private"]
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", "/dev/stdin"], input=private, capture_output=True, text=True
    )
    assert derived.returncode == 0, derived.stderr
    assert derived.stdout.split()[:2] == info["root_ssh_key"]["public"].split()[:2]
    assert [n["host_public_key"] for n in info["nodes"]] == [n.host_key for n in deployment.nodes]
    path = root_key_path(store, deployment.name)
    assert path.stat().st_mode & 0o777 == 0o600
    again = build_info(deployment, store, manifest_of("vm", root_key=True))
    assert again["root_ssh_key"] == info["root_ssh_key"]  # started again: the same pair


def test_an_info_going_by_url_names_the_root_key_without_its_private_half(
    tmp_path: Path,
) -> None:
    """The kexec flavours' and vm-ramdisk's info travels by a URL every node user can read."""
    store = DeploymentStore(tmp_path / "deploy")
    deployment = placed("g5k-ramdisk")
    manifest = manifest_of("g5k-ramdisk", root_key=True)
    info = build_info(deployment, store, manifest, InfoExtras(root_key_by_url=True))
    pair = deployment_root_key(deployment, store, manifest)
    assert pair is not None
    assert info["root_ssh_key"] == {"public": pair.public_line, "fetch": "root_key"}
    assert not holds_secret(info) and "PRIVATE" not in json.dumps(info)
    assert deployment_root_key(placed("g5k-ramdisk"), store, manifest_of("g5k-ramdisk")) is None


def test_parameters_are_checked_and_kept_in_the_record(tmp_path: Path) -> None:
    assert parse_parameters(["a=1", "b=x=y", "a=2", "empty="]) == {
        "a": "2",
        "b": "x=y",
        "empty": "",
    }
    for bad in ("novalue", "=x", "1a=x", "a-b=x"):
        with pytest.raises(InputError, match="KEY=VALUE"):
            parse_parameters([bad])
    store = DeploymentStore(tmp_path / "deploy")
    store.save(placed(parameters={"volume": "disperse:2+1"}))
    assert store.load("composition::vm").parameters == {"volume": "disperse:2+1"}
    record = json.loads(store.path_for("composition::vm").read_text())
    record["parameters"] = {"volume": 3}
    store.path_for("composition::vm").write_text(json.dumps(record))
    with pytest.raises(Exception, match="parameters"):
        store.load("composition::vm")


def test_nxc_start_dry_run_shows_parameters_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    manifest = Path(__file__).parent.parent / "fixtures" / "manifests" / "cluster-vm.json"

    def start(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "nxc", "start", "--manifest", str(manifest), "--dry-run"]
        return subprocess.run([*argv, *args], capture_output=True, text=True, cwd=tmp_path)

    shown = start("-p", "gluster_volume=replica:3", "--parameter", "mode=fast")
    assert shown.returncode == 0, shown.stderr
    assert "parameter gluster_volume=replica:3" in shown.stdout
    assert "parameter mode=fast" in shown.stdout
    bad = start("-p", "oops")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "-p/--parameter 'oops'" in bad.stderr
    assert "Traceback" not in bad.stderr
