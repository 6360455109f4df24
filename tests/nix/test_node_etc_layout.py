"""NixOS-Compose's /etc/nxc files, written by the real stage-2 script (node-setup.sh).

Projects written for NixOS-Compose read /etc/nxc/deployment.json, deployment-hosts, role,
hostname and ip_addr. The script runs for real in fresh UTS, network and mount namespaces
(needs root and unshare), with /etc/nxc, /etc/hosts and /etc/ssh redirected into a folder.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.nix.conftest import REPO

MODULES = REPO / "nxc" / "nix" / "modules"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/busybox sh"])
def test_stage_two_writes_the_nixos_compose_files(shell: str, tmp_path: Path):
    if os.geteuid() != 0 or not all(shutil.which(p) for p in ("unshare", "jq", "ssh-keygen")):
        pytest.skip("needs root, unshare, jq and ssh-keygen")
    if not Path(shell.split()[0]).exists():
        pytest.skip(f"needs {shell}")
    info = {
        "version": 1,
        "deployment": "composition::vm",
        "network": {"prefix_length": 16},
        "authorized_keys": ["ssh-ed25519 AAAAC3Nz deploy@nxc"],
        "nodes": [
            {
                "hostname": "server",
                "role": "server",
                "address": "10.23.0.5",
                "mac": "52:54:00:00:00:05",
            },
            {
                "hostname": "client1",
                "role": "client",
                "address": "10.23.0.6",
                "mac": "52:54:00:00:00:06",
            },
        ],
    }
    (tmp_path / "cmdline").write_text(f"nxc.info={_b64url(json.dumps(info).encode())}\n")
    etc = tmp_path / "etc-nxc"
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "NXC_RUN": str(tmp_path / "run"),
        "NXC_FW_CFG": str(tmp_path / "absent"),
        "NXC_CMDLINE": str(tmp_path / "cmdline"),
        "NXC_ETC": str(etc),
        "NXC_CONSOLES": "",
        "NXC_NODE_INFO": str(MODULES / "node-info.sh"),
        "NXC_HOSTS_FILE": str(tmp_path / "hosts"),
        "NXC_SSH_DIR": str(tmp_path / "ssh"),
    }
    script = (
        "set -eu; mount -t sysfs sysfs /sys; ip link add nxc0 type veth peer name nxc1; "
        "ip link set nxc0 address 52:54:00:00:00:06; "
        f'. "{MODULES / "node-setup.sh"}"'
    )
    result = subprocess.run(
        ["unshare", "--uts", "--net", "--mount", *shell.split(), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((etc / "deployment.json").read_text()) == {
        "deployment": {
            "10.23.0.5": {"role": "server", "host": "server"},
            "10.23.0.6": {"role": "client", "host": "client1"},
        },
        "ssh_key.pub": "ssh-ed25519 AAAAC3Nz deploy@nxc",
    }
    assert (etc / "deployment-hosts").read_text() == "10.23.0.5 server\n10.23.0.6 client1\n"
    assert (etc / "role").read_text() == "client\n"
    assert (etc / "hostname").read_text() == "client1\n"
    assert (etc / "ip_addr").read_text() == "10.23.0.6\n"
    assert sorted(p.name for p in etc.iterdir()) == [
        "deployment-hosts",
        "deployment.json",
        "hostname",
        "ip_addr",
        "role",
    ]
