"""The node-side scripts of nxc.sharedDirs and nxc.root-sshKeys (nxc/nix/modules/*.sh) run for
real against a deployment info file in a temporary folder: real keys, a real sshd the installed
files log in to, real bind mounts in a private mount namespace, the real mount.nfs.

Only what exists solely on a node is redirected (NXC_RUN, root's home, the consoles). NFS itself
cannot be mounted here (this kernel has no NFS client): the `nixos` test in test_nxc_options.py
mounts it on VMs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from nxc import infoserver
from nxc.keys import KeyPair, generate_keypair, root_key_info, write_private_key
from tests.nix.conftest import REPO

MODULES = REPO / "nxc" / "nix" / "modules"
SHARED_DIRS = MODULES / "shared-dirs.sh"
ROOT_KEY = MODULES / "root-ssh-key.sh"


def _needs(*programs: str) -> None:
    missing = [p for p in programs if shutil.which(p) is None and not Path(p).exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def _write_info(tmp_path: Path, info: dict[str, Any]) -> Path:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "info.json").write_text(json.dumps(info))
    return run


def _run(
    tmp_path: Path,
    script: Path,
    *args: str,
    timeout: int = 60,
    unshare: bool = False,
    then: str = "",
    cmdline: str = "",
) -> subprocess.CompletedProcess[str]:
    """Source node-info.sh then ``script`` with ``args``, as the modules' units do; with
    ``unshare`` in a private mount namespace, running the shell text ``then`` after it."""
    env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "NXC_RUN": str(tmp_path / "run"),
        "NXC_CONSOLES": "",
        "NXC_ROOT_HOME": str(tmp_path / "root"),
    }
    if cmdline:
        (tmp_path / "cmdline").write_text(cmdline + "\n")
        env["NXC_CMDLINE"] = str(tmp_path / "cmdline")
    command = f'. "{MODULES / "node-info.sh"}"; ' + (
        f'(. "{script}") && {then}' if then else f'. "{script}"'
    )
    argv = ["sh", "-eu", "-c", command, "sh", *args]
    if unshare:
        argv = ["unshare", "--mount", "--propagation", "private", *argv]
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


# nxc.root-sshKeys


def _key_info(root: KeyPair, hosts: dict[str, KeyPair]) -> dict[str, Any]:
    nodes = [
        {"hostname": name, "role": "node", "address": f"127.0.0.{i + 1}",
         "host_public_key": pair.public_line}
        for i, (name, pair) in enumerate(hosts.items())
    ]  # fmt: skip
    nodes.append({"hostname": "nokey", "role": "node", "address": "127.0.0.9"})
    return {"version": 1, "nodes": nodes, **root_key_info(root)}  # what nxc hands the nodes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ssh_as(tmp_path: Path, alias: str, port: int) -> subprocess.CompletedProcess[str]:
    """ssh with only root's installed files: its key, its known_hosts, the node's name."""
    ssh_dir = tmp_path / "root" / ".ssh"
    return subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-i", str(ssh_dir / "id_ed25519"),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={ssh_dir / 'known_hosts'}",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", f"HostKeyAlias={alias}", "-p", str(port), "root@127.0.0.1", "echo reached",
        ],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_root_key_files_let_root_log_in_to_a_node(tmp_path: Path):
    """The installed key, authorized_keys and known_hosts, used by real ssh against a real sshd
    holding node1's host key: node1 is reached, node2's entry does not match that host."""
    _needs("jq", "ssh-keygen", "ssh", "/usr/sbin/sshd")
    if os.geteuid() != 0:
        pytest.skip("sshd logging root in needs root")
    root = generate_keypair("nxc-root:composition::vm")
    hosts = {"node1": generate_keypair("node1"), "node2": generate_keypair("node2")}
    _write_info(tmp_path, _key_info(root, hosts))
    result = _run(tmp_path, ROOT_KEY, "install")
    assert result.returncode == 0, result.stderr

    ssh_dir = tmp_path / "root" / ".ssh"
    assert ssh_dir.stat().st_mode & 0o777 == 0o700
    assert (ssh_dir / "id_ed25519").stat().st_mode & 0o777 == 0o600
    assert (ssh_dir / "id_ed25519").read_bytes() == root.private_openssh
    assert (ssh_dir / "id_ed25519.pub").read_text() == root.public_line + "\n"
    assert (ssh_dir / "known_hosts").read_text().splitlines() == [
        f"node1,127.0.0.1 {hosts['node1'].public_line}",
        f"node2,127.0.0.2 {hosts['node2'].public_line}",
    ]

    write_private_key(tmp_path / "host_key", hosts["node1"])
    port = _free_port()
    (tmp_path / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1:{port}\nHostKey {tmp_path / 'host_key'}\n"
        f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}\nPidFile none\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM no\nUseDNS no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    sshd = subprocess.Popen(
        ["/usr/sbin/sshd", "-D", "-e", "-f", str(tmp_path / "sshd_config")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert sshd.poll() is None and time.monotonic() < deadline, "sshd did not start"
            time.sleep(0.05)
        reached = _ssh_as(tmp_path, "node1", port)
        assert reached.returncode == 0 and reached.stdout == "reached\n", reached.stderr
        refused = _ssh_as(tmp_path, "node2", port)
        assert refused.returncode != 0 and "Host key verification failed" in refused.stderr
    finally:
        sshd.kill()
        sshd.wait(timeout=10)


def test_root_key_replaces_an_earlier_deployments_key_and_leaves_the_others(tmp_path: Path):
    _needs("jq", "ssh-keygen")
    earlier, root = generate_keypair("earlier"), generate_keypair("now")
    ssh_dir = tmp_path / "root" / ".ssh"
    ssh_dir.mkdir(parents=True)
    (ssh_dir / "id_ed25519.pub").write_text(earlier.public_line + "\n")
    (ssh_dir / "authorized_keys").write_text(
        f"ssh-ed25519 AAAAmine me@host\n{earlier.public_line}\n"
    )
    _write_info(tmp_path, _key_info(root, {}))
    for _ in range(2):
        result = _run(tmp_path, ROOT_KEY, "install")
        assert result.returncode == 0, result.stderr
    assert (ssh_dir / "authorized_keys").read_text().splitlines() == [
        "ssh-ed25519 AAAAmine me@host",
        root.public_line,
    ]
    assert (ssh_dir / "authorized_keys").stat().st_mode & 0o777 == 0o600


def test_where_the_info_goes_by_url_the_pair_is_fetched_once_from_the_info_server(
    tmp_path: Path,
):
    """The kexec flavours' info names the key only ("fetch"); the node takes the pair from a
    real info server beside its nxc.host_key_url (as node1 at 127.0.0.1), once."""
    _needs("jq", "ssh-keygen", "curl")
    root = generate_keypair("r")
    info = _key_info(root, {"node1": generate_keypair("h1")})
    info["root_ssh_key"] = {"public": root.public_line, "fetch": "root_key"}
    run = _write_info(tmp_path, info)
    key_dir, clients = tmp_path / "keys", tmp_path / "clients.json"
    infoserver.arm_host_key(infoserver.root_key_dir(key_dir), "node1", root.private_openssh)
    infoserver.write_clients(clients, {"node1": "127.0.0.1"})
    server = infoserver.start_info_server(
        run / "info.json", "127.0.0.1", tmp_path / "server.log", key_dir, clients
    )
    try:
        line = f"console=ttyS0 nxc.host_key_url={server.key_url('node1')}"
        result = _run(tmp_path, ROOT_KEY, "install", cmdline=line)
        assert result.returncode == 0, result.stderr
        installed = tmp_path / "root" / ".ssh" / "id_ed25519"
        assert installed.read_bytes().strip() == root.private_openssh.strip()
        assert installed.stat().st_mode & 0o777 == 0o600
        assert result.stderr.count(server.token) == 0, "the URL is never printed"
        again = _run(tmp_path, ROOT_KEY, "install", cmdline=line)  # the pair was served once
        assert again.returncode == 0, again.stderr  # and is installed: nothing to do
        (tmp_path / "root" / ".ssh" / "id_ed25519").unlink()
        gone = _run(tmp_path, ROOT_KEY, "install", cmdline=line.replace("node1", "@"))
        assert gone.returncode == 1 and "cannot fetch the deployment's root key" in gone.stderr
    finally:
        infoserver.stop_recorded(server.to_record())


@pytest.mark.parametrize("mode", ["install", "scrub"])
def test_the_private_key_leaves_the_world_readable_info(tmp_path: Path, mode: str):
    """Every role does this, with the option or without (then nothing is installed)."""
    _needs("jq", "ssh-keygen")
    root = generate_keypair("r")
    run = _write_info(tmp_path, _key_info(root, {}))
    result = _run(tmp_path, ROOT_KEY, mode)
    assert result.returncode == 0, result.stderr
    info = json.loads((run / "info.json").read_text())
    assert info["root_ssh_key"] == {"public": root.public_line}
    assert info["nodes"][0]["hostname"] == "nokey"
    assert (tmp_path / "root").exists() == (mode == "install")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"root_ssh_key": None}, "the deployment info has no root_ssh_key.private"),
        ({"root_ssh_key": {"private": "not a key"}}, "is not an unencrypted OpenSSH private key"),
        ("other-public", "root_ssh_key.public of the deployment info is not the public half"),
    ],
    ids=["missing", "garbage", "mismatch"],
)
def test_bad_root_key_is_one_error_line_and_still_scrubbed(
    tmp_path: Path, change: Any, message: str
):
    _needs("jq", "ssh-keygen")
    info = _key_info(generate_keypair("r"), {})
    if change == "other-public":
        info["root_ssh_key"]["public"] = generate_keypair("other").public_line
    else:
        info.update(change)
    run = _write_info(tmp_path, info)
    result = _run(tmp_path, ROOT_KEY, "install")
    assert result.returncode == 1
    assert result.stderr.startswith("nxc-error: ") and message in result.stderr
    assert "PRIVATE KEY" not in (run / "info.json").read_text()
    assert not (tmp_path / "root" / ".ssh" / "id_ed25519").exists()


# nxc.sharedDirs


def _nodes_info(shared: dict[str, Any] | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "version": 1,
        "nodes": [
            {"hostname": "client1", "role": "client", "address": "127.0.0.11"},
            {"hostname": "srv1", "role": "server", "address": "127.0.0.21"},
            {"hostname": "srv2", "role": "server", "address": "127.0.0.22"},
            {"hostname": "lonely", "role": "store", "address": "127.0.0.31"},
        ],
    }
    if shared is not None:
        info["shared_dir"] = shared
    return info


@pytest.mark.parametrize(
    ("server", "source"),
    [
        ("server", "127.0.0.21:"),  # a role: its first node
        ("lonely", "127.0.0.31:"),  # a hostname of the deployment
        ("10.1.2.3", "10.1.2.3:"),  # anything else: as given
    ],
    ids=["role", "hostname", "address"],
)
def test_nfs_mount_finds_its_server_retries_and_gives_up_in_time(
    tmp_path: Path, server: str, source: str
):
    """The real mount.nfs fails at once here (no NFS in this kernel): retried every 2 s until
    the timeout, then one console line naming the directory, the server and mount.nfs' error."""
    _needs("jq", "mount.nfs", "mountpoint")
    _write_info(tmp_path, _nodes_info())
    directory = tmp_path / "users"
    started = time.monotonic()
    result = _run(tmp_path, SHARED_DIRS, "nfs", str(directory), server, "3", timeout=30)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"nxc-error: cannot mount {directory} from {server} ({source}{directory}) within 3s: "
    ), line
    assert "mount.nfs" in line
    assert 2 <= elapsed < 15, elapsed  # whole seconds: at least one retry, 2 s later
    assert directory.is_dir()


def _bind_deployment(tmp_path: Path) -> Path:
    """The deployment info of a docker deployment whose shared folder is returned."""
    _needs("jq", "unshare", "mountpoint")
    if os.geteuid() != 0:
        pytest.skip("bind mounts and chown need root")
    shared = tmp_path / "shared"
    shared.mkdir()
    _write_info(tmp_path, _nodes_info({"type": "bind", "path": str(shared)}))
    return shared


def test_bind_shares_the_exporters_files_and_makes_missing_homes(tmp_path: Path):
    """Containers: the exporter's existing files go to the deployment's shared folder (once),
    which it bind-mounts; the homes of nxc.users are made there (uid, group users, 0700)."""
    shared = _bind_deployment(tmp_path)
    exporter = tmp_path / "exporter" / "users"
    (exporter / "alice").mkdir(parents=True)
    (exporter / "alice" / "notes").write_text("hers\n")
    home = f"{exporter}/bob"
    result = _run(
        tmp_path, SHARED_DIRS, "bind", str(exporter), "export", f"1001:{home}", unshare=True
    )
    assert result.returncode == 0, result.stderr
    # the mount lived in the script's own namespace; what it put in the shared folder stays
    store = shared / ".nxc-shared-dirs" / str(exporter).lstrip("/")
    assert (store / "alice" / "notes").read_text() == "hers\n"
    assert (store / "bob").stat().st_uid == 1001
    assert (store / "bob").stat().st_mode & 0o777 == 0o700
    assert not (exporter / "bob").exists()
    # restarted, the exporter leaves the share as the deployment made it
    (store / "alice" / "notes").unlink()
    again = _run(tmp_path, SHARED_DIRS, "bind", str(exporter), "export", unshare=True)
    assert again.returncode == 0, again.stderr
    assert not (store / "alice" / "notes").exists()


def test_bind_mount_puts_the_shared_folder_on_the_directory(tmp_path: Path):
    """In the unit's mount namespace, what is written in the directory lands in the share."""
    shared = _bind_deployment(tmp_path)
    directory = tmp_path / "data"
    result = _run(
        tmp_path, SHARED_DIRS, "bind", str(directory), "mount", unshare=True,
        then=f'mountpoint -q "{directory}" && echo from-node > "{directory}/file"',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    store = shared / ".nxc-shared-dirs" / str(directory).lstrip("/")
    assert (store / "file").read_text() == "from-node\n"
    assert not (directory / "file").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bind", "/d", "export"], "the deployment info has no bind shared folder"),
        (["nfs", "/d"], "shared-dirs: nfs DIR SERVER TIMEOUT"),
        (["sshfs", "/d"], "shared-dirs: unknown mode 'sshfs'"),
    ],
    ids=["no-shared-folder", "missing-arguments", "unknown-mode"],
)
def test_shared_dir_misuse_is_one_error_line(tmp_path: Path, args: list[str], message: str):
    _needs("jq", "mountpoint")
    _write_info(tmp_path, _nodes_info({"type": "9p", "tag": "nxcshared"}))
    args = [str(tmp_path / a.lstrip("/")) if a == "/d" else a for a in args]
    result = _run(tmp_path, SHARED_DIRS, *args)
    assert result.returncode != 0
    assert result.stderr.startswith("nxc-error: ") and message in result.stderr, result.stderr
