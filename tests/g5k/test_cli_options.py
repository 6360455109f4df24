"""``nxc start`` options of the Grid'5000 flavours, through the real CLI (subprocesses).

Bad combinations are refused with one line and exit code 2, before anything is reserved or
booted (no OAR server or host is needed for that).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.manifest import Artefacts, Composition, Manifest, Role, to_dict


@pytest.fixture
def manifest_file(tmp_path: Path):
    def write(flavour: str) -> Path:
        for name in ("kernel", "initrd"):
            (tmp_path / name).write_bytes(b"x")
        composition = Composition(
            "composition",
            (Role("node", "/nix/store/0000-role-node"),),
            None,
            Artefacts(kernel=str(tmp_path / "kernel"), initrd=str(tmp_path / "initrd"), cmdline=""),
        )
        path = tmp_path / f"{flavour}.json"
        path.write_text(json.dumps(to_dict(Manifest(flavour, "x86_64-linux", (composition,)))))
        return path

    return write


def start(tmp_path: Path, *argv: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "start", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--oar", "nodes=1", "-m", "nodes.txt"], "--oar and -m both give hosts"),
        (["--oar-job", "3", "--oar", "nodes=1"], "--oar and --oar-job both give hosts"),
        (["-W"], "-W waits for a machine file"),
        (["--retries", "-1", "--oar-job", "3"], "--retries -1 must be 0 or more"),
        (["--max-concurrency", "0", "--oar-job", "3"], "--max-concurrency 0 must be 1 or more"),
        (["--oar", " "], "is not an OAR resource request"),
        ([], "no hosts given"),
        (["--oar-job", "3", "--oar-type", "deploy"], "--oar-type and --oar-properties shape"),
        (["--oar-job", "3", "--oar-properties", "x"], "shape a new reservation: add --oar"),
        (["--oar", "nodes=1", "--ssh-config", "absent"], "--ssh-config absent: no such file"),
        (["--oar-job", "3", "--nfs-server", "10.0.0.9"], "--nfs-server is for g5k-nfs-store"),
        (["--oar-job", "nancy:x"], "--oar-job 'nancy:x' is not a job: give its number"),
        (["--oar-job", "na/ncy:3"], "--oar-job 'na/ncy:3' is not a job"),
        (["--oar-job", "3", "--oar-job", "4"], "--oar-job: give one job without a site"),
        (["--oar-job", "lyon:3", "--oar-job", "lyon:4"], "two jobs for site lyon"),
        (["--oar-job", "lyon:3", "-m", "nodes.txt"], "--oar-job SITE:ID and -m both give hosts"),
    ],
)
def test_bad_host_options_are_refused_in_one_line(tmp_path, manifest_file, options, message):
    line = start(tmp_path, "--manifest", str(manifest_file("g5k-ramdisk")), *options)
    assert message in line


def test_g5k_options_do_not_apply_to_the_vm_flavour(tmp_path, manifest_file):
    line = start(tmp_path, "--manifest", str(manifest_file("vm")), "--oar", "nodes=1")
    assert "--oar applies only to the Grid'5000 flavours" in line and "drop it" in line
    line = start(tmp_path, "--manifest", str(manifest_file("vm")), "--ssh-config", "c", "-W")
    assert "-W, --ssh-config apply only to the Grid'5000 flavours" in line


def test_nfs_server_reaches_the_nodes_kernel_parameter():
    """``--nfs-server`` becomes the server the nodes mount the store from."""
    from nxc.deployment import Deployment, Node
    from nxc.flavours import get_flavour
    from nxc.flavours.g5k.nfs_store import NfsStoreFlavour
    from nxc.start_request import HostRequest, StartRequest, flavour_keywords

    request = StartRequest(hosts=HostRequest(oar_jobs=("3",), nfs_server="10.0.0.9"))
    options = flavour_keywords(request, "g5k-nfs-store")
    deployment = Deployment("c", "g5k-nfs-store", nodes=[Node("n1", "n", "10.1.0.1", "10.1.0.1")])
    flavour = get_flavour("g5k-nfs-store", **options)
    assert isinstance(flavour, NfsStoreFlavour)
    assert flavour.extra_params(deployment) == ["nxc.nfs_store=10.0.0.9:/nix/store"]
    assert flavour.extra_info(deployment)["nix_store"]["server"] == "10.0.0.9"
