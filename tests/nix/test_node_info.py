"""The NixOS node-contract script (nxc/nix/modules/node-info.sh) run for real, with the shells
it meets on nodes: busybox ash (stage 1) and a POSIX sh (stage 2).

It reads this machine's real interfaces (MACs, addresses); only the sources that exist solely in
a guest (fw_cfg folder, kernel command line, /etc/nxc) are redirected into a temporary folder.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nix.conftest import REPO

SCRIPT = REPO / "nxc" / "nix" / "modules" / "node-info.sh"
SHELLS = ["/bin/sh", "/bin/busybox sh"]


def _host_mac() -> str:
    for device in sorted(Path("/sys/class/net").iterdir()):
        mac = (device / "address").read_text().strip()
        if mac and mac != "00:00:00:00:00:00":
            return mac
    pytest.skip("no network interface with a MAC address")


def _info(nodes: list[dict]) -> dict:
    return {
        "version": 1,
        "deployment": "composition::vm",
        "network": {"prefix_length": 16},
        "authorized_keys": ["ssh-ed25519 AAAAC3Nz test@nxc", "ssh-ed25519 AAAAC3Nz other@nxc"],
        "nodes": nodes,
    }


def _env(tmp_path: Path, fw_cfg: bool = False, etc: bool = False, consoles: str = "") -> dict:
    """node-info.sh's sources redirected under tmp_path (absent unless asked for)."""
    return {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "NXC_RUN": str(tmp_path / "run"),
        "NXC_FW_CFG": str(tmp_path / "fw_cfg" if fw_cfg else tmp_path / "absent"),
        "NXC_CMDLINE": str(tmp_path / "cmdline"),
        "NXC_ETC": str(tmp_path / "etc" if etc else tmp_path / "absent"),
        "NXC_CONSOLES": consoles,
    }


def _run(shell: str, tmp_path: Path, cmdline: str = "", fw_cfg: bool = False, etc: bool = False):
    if shutil.which("jq") is None or not Path(shell.split()[0]).exists():
        pytest.skip(f"needs jq and {shell}")
    run = tmp_path / "run"
    env = _env(tmp_path, fw_cfg=fw_cfg, etc=etc)
    (tmp_path / "cmdline").write_text(f"console=ttyS0 {cmdline}\n")
    script = f'. "{SCRIPT}"; nxc_find_info && nxc_find_self && echo "system=$NXC_SYSTEM"'
    result = subprocess.run(
        [*shell.split(), "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    return result, run


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("shell", SHELLS)
def test_inline_info_and_host_key_found_by_mac(shell: str, tmp_path: Path):
    mac = _host_mac().upper()
    info = _info(
        [
            {
                "hostname": "other1",
                "role": "other",
                "address": "10.23.0.9",
                "mac": "52:54:00:00:00:09",
            },
            {
                "hostname": "node1",
                "role": "node",
                "address": "10.23.0.1",
                "mac": mac,
                "system": "/nix/store/abc-role-node",
            },
        ]
    )
    key = b"-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----\n"
    with _key_server(tmp_path, "node1", key) as key_url:
        cmdline = f"nxc.info={_b64url(json.dumps(info).encode())} nxc.host_key_url={key_url}"
        result, run = _run(shell, tmp_path, cmdline=cmdline)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "system=/nix/store/abc-role-node"
        assert json.loads((run / "self.json").read_text())["hostname"] == "node1"
        assert (run / "host_key").read_bytes() == key
        assert (run / "host_key").stat().st_mode & 0o077 == 0
        assert (run / "authorized_keys").read_text().splitlines() == info["authorized_keys"]
        (run / "host_key").unlink()
        again, run = _run(shell, tmp_path, cmdline=cmdline)  # served once: a reboot gets none
    assert again.returncode == 0, again.stderr
    assert "nxc-error: cannot fetch this node's host key" in again.stderr
    assert key_url.split("/")[3] not in again.stderr, "the token is never printed"
    assert not (run / "host_key").exists() and not (run / "host_key.part").exists()


@contextlib.contextmanager
def _key_server(tmp_path: Path, hostname: str, key: bytes) -> Iterator[str]:
    """A real nxc info server on 127.0.0.1 (this machine is the node) with ``key`` armed."""
    from nxc import infoserver

    (tmp_path / "served.json").write_text("{}")
    infoserver.arm_host_key(tmp_path / "keys", hostname, key)
    infoserver.write_clients(tmp_path / "clients.json", {hostname: "127.0.0.1"})
    server = infoserver.start_info_server(
        tmp_path / "served.json",
        "127.0.0.1",
        tmp_path / "server.log",
        tmp_path / "keys",
        tmp_path / "clients.json",
    )
    try:
        yield server.key_url(hostname)
    finally:
        infoserver.stop_recorded(server.to_record())


@pytest.mark.parametrize("shell", SHELLS)
def test_fw_cfg_wins_and_address_matches_without_mac(shell: str, tmp_path: Path):
    info = _info(
        [
            {"hostname": "far", "role": "r", "address": "10.99.0.1"},
            {"hostname": "here", "role": "r", "address": "127.0.0.1"},
        ]
    )
    (tmp_path / "fw_cfg" / "info").mkdir(parents=True)
    (tmp_path / "fw_cfg" / "info" / "raw").write_text(json.dumps(info))
    decoy = _b64url(json.dumps(_info([])).encode())
    result, run = _run(shell, tmp_path, cmdline=f"nxc.info={decoy}", fw_cfg=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "system="
    assert json.loads((run / "self.json").read_text())["hostname"] == "here"


@pytest.mark.parametrize("shell", SHELLS)
def test_container_file_is_the_last_source(shell: str, tmp_path: Path):
    (tmp_path / "etc").mkdir()
    info = _info([{"hostname": "c1", "role": "c", "address": "127.0.0.1", "system": "/s"}])
    (tmp_path / "etc" / "info.json").write_text(json.dumps(info))
    result, _ = _run(shell, tmp_path, etc=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "system=/s"


@pytest.mark.parametrize("shell", SHELLS)
def test_no_entry_for_this_node_is_reported(shell: str, tmp_path: Path):
    info = _info(
        [{"hostname": "x", "role": "r", "address": "10.99.0.7", "mac": "52:54:00:99:99:99"}]
    )
    result, run = _run(shell, tmp_path, cmdline=f"nxc.info={_b64url(json.dumps(info).encode())}")
    assert result.returncode != 0
    assert "nxc-error: no entry for this node (macs " in result.stderr
    assert "127.0.0.1" in result.stderr
    assert not (run / "self.json").exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_no_info_at_all_is_reported(shell: str, tmp_path: Path):
    result, _ = _run(shell, tmp_path)
    assert result.returncode != 0
    assert "nxc-error: no deployment info" in result.stderr


SETUP_SCRIPT = REPO / "nxc" / "nix" / "modules" / "node-setup.sh"


@pytest.mark.parametrize("shell", SHELLS)
def test_stage_two_applies_the_entry_in_fresh_namespaces(shell: str, tmp_path: Path):
    """Runs node-setup.sh in new UTS, network and mount namespaces (a fresh /sys shows only
    the namespace's interfaces); needs root and unshare."""
    import os

    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ssh-keygen") is None:
        pytest.skip("needs root, unshare and ssh-keygen")
    key_file = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True, timeout=30
    )
    info = _info(
        [
            {
                "hostname": "node1",
                "role": "node",
                "address": "10.23.0.5",
                "mac": "52:54:00:12:34:56",
            },
            {
                "hostname": "node2",
                "role": "node",
                "address": "10.23.0.6",
                "mac": "52:54:00:12:34:57",
            },
        ]
    )
    cmdline = f"nxc.info={_b64url(json.dumps(info).encode())}"
    (tmp_path / "cmdline").write_text(cmdline)
    (tmp_path / "fw_cfg" / "host_key").mkdir(parents=True)
    shutil.copy(key_file, tmp_path / "fw_cfg" / "host_key" / "raw")
    env = {
        **_env(tmp_path, fw_cfg=True),
        "NXC_NODE_INFO": str(SCRIPT),
        "NXC_HOSTS_FILE": str(tmp_path / "hosts"),
        "NXC_SSH_DIR": str(tmp_path / "ssh"),
    }
    script = (
        "set -eu; mount -t sysfs sysfs /sys; ip link add nxc0 type veth peer name nxc1; ip link set nxc0 address 52:54:00:12:34:56; "
        f'. "{SETUP_SCRIPT}"; echo "hostname=$(hostname)"; ip -o -4 addr show nxc0'
    )
    result = subprocess.run(
        ["unshare", "--uts", "--net", "--mount", *shell.split(), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "hostname=node1" in result.stdout
    assert "inet 10.23.0.5/16" in result.stdout
    assert (tmp_path / "hosts").read_text().splitlines()[2:] == [
        "10.23.0.5 node1",
        "10.23.0.6 node2",
    ]
    installed = tmp_path / "ssh" / "ssh_host_ed25519_key"
    assert installed.read_bytes() == key_file.read_bytes()
    assert installed.stat().st_mode & 0o777 == 0o600
    public = (tmp_path / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()[:2]
    assert public == (tmp_path / "key.pub").read_text().split()[:2]
    assert os.uname().nodename != "node1"  # the host's own hostname is untouched


# Variables of nixpkgs' stage-1-init.sh still read after the postMountCommands that source
# node-info.sh: fail() (the rescue shell on /dev/$console) and the hand-over to stage 2.
STAGE1_VARIABLES = {
    "console": "ttyS0",
    "targetRoot": "/mnt-root",
    "stage2Init": "/run/current-system/init",
    "allowShell": "1",
    "panicOnFail": "",
    "reply": "",
}


@pytest.mark.parametrize("shell", SHELLS)
def test_an_error_leaves_stage_one_variables_alone(shell: str, tmp_path: Path):
    """nxc_error writes to every console in NXC_CONSOLES (here a file standing for one) and
    leaves $console, which stage 1's rescue shell opens, as stage 1 set it."""
    if shutil.which("jq") is None or not Path(shell.split()[0]).exists():
        pytest.skip(f"needs jq and {shell}")
    console_file = tmp_path / "console"
    console_file.write_text("")
    env = _env(tmp_path, consoles=str(console_file))
    (tmp_path / "cmdline").write_text("console=ttyS0,115200\n")
    assignments = "; ".join(f'{name}="{value}"' for name, value in STAGE1_VARIABLES.items())
    report = " ".join(f'{name}="${name}"' for name in STAGE1_VARIABLES)
    script = (
        f'{assignments}; . "{SCRIPT}"; '
        'nxc_find_info && nxc_find_self; nxc_error "role system /x is not in this node\'s store"; '
        f"echo {report}"
    )
    result = subprocess.run(
        [*shell.split(), "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{name}={value}" for name, value in STAGE1_VARIABLES.items()]
    assert "nxc-error: no deployment info (fw_cfg opt/nxc/info" in result.stderr
    assert console_file.read_text() == "nxc-error: role system /x is not in this node's store\n"
