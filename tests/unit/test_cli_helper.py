"""``nxc helper``: NixOS-Compose's helpers that its users' scripts call, run through the CLI."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, Node
from nxc.project import find_project
from tests.nix.conftest import run_nxc


def nxc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_nxc("helper", *args, cwd=cwd)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "flake.nix").write_text("{ outputs = { self }: { }; }\n")
    nodes = [
        Node("server", "server", "10.0.0.1", "127.0.0.1", 2201),
        Node("client1", "client", "10.0.0.2", "127.0.0.1", 2202),
    ]
    deployment = Deployment("composition", "vm", nodes=nodes, state=DeploymentState.running)
    find_project(root).deployments.save(deployment)
    return root


def test_ip_and_ssh_port_of_a_node(project: Path):
    assert nxc(project, "ip", "client1").stdout == "10.0.0.2\n"
    assert nxc(project, "ip_ssh_port", "client1").stdout == "127.0.0.1:2202\n"
    assert nxc(project, "fqdn", "server").stdout == f"{socket.getfqdn('127.0.0.1')}\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ip", "nobody"], "nobody"),
        (["ip"], "give one node's hostname"),
        (["nope"], "no such helper"),
        (["install-nix"], "nxc does not download this"),
        (["g5k-get-seed-store"], "needs no seed store"),
    ],
    ids=["unknown-host", "no-host", "unknown-helper", "install-nix", "seed-store"],
)
def test_bad_use_is_one_line(project: Path, args: list[str], expected: str):
    result = nxc(project, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and expected in result.stderr, result.stderr


def test_list_names_every_helper(project: Path):
    listed = [line.split()[0] for line in nxc(project, "--list").stdout.splitlines()]
    assert listed == ["g5k_script", "ip", "ip_ssh_port", "fqdn"]


def test_g5k_script_authorises_the_key_for_root_on_every_node(tmp_path: Path):
    """The job script run for real with bash, as OAR runs it. Grid'5000's `oarsh` and
    `sudo-g5k` cannot run here: stand-ins run the command locally, in a mount namespace
    whose /root is a fresh tmpfs (needs root and unshare)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")
    script = nxc(tmp_path, "g5k_script").stdout.strip()
    assert os.access(script, os.X_OK)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "oarsh").write_text('#!/bin/sh\necho "$1" >> "$OARSH_LOG"\nshift\nexec sh -c "$*"\n')
    (shims / "sudo-g5k").write_text('#!/bin/sh\nexec "$@"\n')
    for shim in shims.iterdir():
        shim.chmod(0o755)
    (tmp_path / "nodes").write_text("n1\nn1\nn2\nn1\n")
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3Nzaexample user@laptop\n")
    inner = (
        "mount -t tmpfs tmpfs /root && "
        f"{script} 0 > {tmp_path}/out && {script} 0 >/dev/null && "
        "cat /root/.ssh/authorized_keys && stat -c %a /root/.ssh"
    )
    env = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "OAR_NODEFILE": str(tmp_path / "nodes"),
        "OARSH_LOG": str(tmp_path / "oarsh.log"),
        "SSH_PUB_KEY": str(key),
    }
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # run twice, the key is there once; the folder is root's only
    assert result.stdout == "ssh-ed25519 AAAAC3Nzaexample user@laptop\n700\n"
    assert (tmp_path / "out").read_text() == "n1\nn2\n"
    assert (tmp_path / "oarsh.log").read_text() == "n1\nn2\nn1\nn2\n"
