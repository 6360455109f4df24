"""The Grid'5000 boot paths and the docker flavour, booted for real with NixOS (nixpkgs 25.05).

``nixos``-marked: they need Nix with network access to nixpkgs and its binary cache (run with
``NXC_TEST_NIX_ONLINE=1``, as ``scripts/test-nixos.sh`` does), QEMU (KVM when it is there) and,
per test, the tools named in its skip reason. Each boot is what a user can do by hand:

* g5k-nfs-store: ``nxc build -f g5k-nfs-store``, this machine's ``/nix/store`` exported over
  NFSv3 (NFS-Ganesha, ``tests/g5k/nfsserver.py``; root), then
  ``qemu-system-x86_64 -kernel KERNEL -initrd INITRD -append "CMDLINE nxc.nfs_store=10.0.2.2:
  /nix/store nxc.info=... nxc.host_key_url=..." -netdev user,...`` (QEMU's user network makes
  this machine 10.0.2.2);
* g5k-image: ``nxc build -f g5k-image``, a disk made as Kadeploy makes it (an MBR partition of
  type 0x83, ext4, the tarball unpacked into it: as root, or under ``fakeroot``), booted with
  the tarball's ``/boot/bzImage`` and ``/boot/initrd`` and ``root=`` given as a device path,
  ``UUID=`` and ``PARTUUID=``;
* docker: ``nxc build -f docker && nxc start -f docker`` on the engine ``docker`` reaches.

Kadeploy and kexec are not run: QEMU boots the same kernel, initrd and command line. The host
key travels as nxc sends it: ``nxc.host_key_url=``, answered once by nxc's info server (its
``--stdio`` form run by QEMU's ``guestfwd``, as vm-ramdisk does). A node is ready when its SSH
server answers with the key pinned here (``StrictHostKeyChecking=yes``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nxc.deployment import DeploymentStore
from nxc.infoserver import arm_host_key, host_key_url, new_token, stdio_command, write_clients
from nxc.manifest import load
from tests.nix.conftest import run_nxc

pytestmark = [pytest.mark.nix, pytest.mark.nixos, pytest.mark.timeout(4 * 3600)]

BUILD_TIMEOUT = 3 * 3600
BOOT_TIMEOUT = 900.0
"""Seconds until SSH answers (TCG without KVM is slow)."""
GUEST_ADDRESS = "10.0.2.15"
"""What QEMU's user network gives the guest by DHCP; this machine is 10.0.2.2 there."""
GUEST_MAC = "52:54:00:12:34:56"
GUESTFWD = "10.0.2.100"
DISK_ID = "0x6e786301"
"""The disk's MBR identifier: its partition's PARTUUID is ``6e786301-01``."""
FS_UUID = "5e2a8f0c-6c59-4d8e-9d5a-2b7c1a7d0b11"
ROOT_FORMS = ["/dev/sda1", f"UUID={FS_UUID}", "PARTUUID=6e786301-01"]


def _built(tmp_path: Path, flavour: str):
    """``nxc init -t basic`` then ``nxc build -f FLAVOUR``: the project and its composition."""
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    result = run_nxc("build", "-f", flavour, cwd=project, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    manifest = load(project / "build" / f"composition::{flavour}" / "manifest.json")
    return project, manifest.compositions[0]


def _tool(name: str, package: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"needs {name} ({package})")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accel() -> list[str]:
    """KVM where it works (not the PVM variant of a nested test bed), else TCG."""
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and not Path("/sys/module/kvm_pvm").exists():
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg"]


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return path.with_suffix(".pub").read_text().strip()


@dataclass(frozen=True)
class Delivery:
    """What nxc gives one node: its kernel parameters and the info server QEMU runs for it."""

    params: str
    guestfwd: str
    client_key: Path
    known_hosts: Path
    port: int

    def ssh(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``command`` as root on the node, its host key checked against the pinned one."""
        return subprocess.run(
            [
                "ssh", "-i", str(self.client_key),
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
                "-p", str(self.port), "root@127.0.0.1", command,
            ],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def _delivery(work: Path, system: str) -> Delivery:
    """One node ``node1`` (role ``node``, the role system ``system``): the deployment info
    inline (``nxc.info=``, base64url, as kexec sends it when it fits), its host key armed for
    nxc's info server and fetched by URL, a client key and the pinned ``known_hosts``."""
    work.mkdir()
    host_public = _keygen(work / "host_key")
    client_public = _keygen(work / "client_key")
    port = _free_port()
    (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_public}\n")
    info = {
        "version": 1,
        "deployment": "boot-path",
        "authorized_keys": [client_public],
        "network": {"prefix_length": 24},
        "nodes": [
            {
                "hostname": "node1",
                "role": "node",
                "address": GUEST_ADDRESS,
                "mac": GUEST_MAC,
                "system": system,
            }
        ],
    }
    (work / "info.json").write_text(json.dumps(info))
    token = new_token()
    (work / "token").write_text(token + "\n")
    arm_host_key(work / "keys", "node1", (work / "host_key").read_bytes())
    write_clients(work / "clients.json", {"node1": GUEST_ADDRESS})
    inline = base64.urlsafe_b64encode(json.dumps(info).encode()).decode().rstrip("=")
    command = stdio_command(
        work / "info.json", work / "keys", work / "clients.json", work / "token", GUEST_ADDRESS
    )
    params = f"nxc.info={inline} nxc.host_key_url={host_key_url(GUESTFWD, token, 'node1')}"
    return Delivery(params, command, work / "client_key", work / "known_hosts", port)


@contextlib.contextmanager
def _qemu(
    kernel: str, initrd: str, append: str, node: Delivery, console: Path, extra: list[str]
) -> Iterator[subprocess.Popen[bytes]]:
    """QEMU booting ``kernel`` and ``initrd`` with ``append``, one virtio NIC on the user
    network (SSH forwarded to ``node.port``, nxc's info server at 10.0.2.100); stopped (by its
    pid) on the way out."""
    qemu = _tool("qemu-system-x86_64", "qemu-system-x86")
    netdev = (
        f"user,id=n0,hostfwd=tcp:127.0.0.1:{node.port}-:22,"
        f"guestfwd=tcp:{GUESTFWD}:80-cmd:{node.guestfwd}"
    )
    argv = [
        qemu, *_accel(), "-m", "1024M", "-smp", "2", "-nographic", "-no-reboot",
        "-serial", f"file:{console}", "-monitor", "none",
        "-kernel", kernel, "-initrd", initrd, "-append", append,
        "-netdev", netdev, "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}",
        *extra,
    ]  # fmt: skip
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(node: Delivery, process: subprocess.Popen[bytes], console: Path) -> None:
    """Until the node answers SSH with the pinned key (any other key is refused)."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if node.ssh("true").returncode == 0:
            return
        time.sleep(3)
    tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
    pytest.fail(f"no SSH with the pinned key (QEMU {process.poll()}); console:\n{tail}")


def _role_system(composition) -> str:
    return next(role.system for role in composition.roles if role.name == "node")


@pytest.fixture
def nfs_store(tmp_path: Path) -> Iterator[str]:
    """This machine's ``/nix/store`` exported read-only over NFSv3 on 127.0.0.1 (the guests'
    10.0.2.2) by NFS-Ganesha; stopped after the test."""
    from tests.g5k import nfsserver

    if os.geteuid() != 0:
        pytest.skip("NFS-Ganesha and rpcbind need root")
    try:
        nfsserver.tools()
    except Exception as missing:  # MissingToolError names the package
        pytest.skip(str(missing))
    server = nfsserver.NfsServer(tmp_path / "nfs", Path("/nix/store"), "127.0.0.1").start()
    try:
        yield "10.0.2.2:/nix/store"
    finally:
        server.stop()


def test_g5k_nfs_store_boots_from_an_nfs_export(tmp_path: Path, requires_nix, nfs_store: str):
    """The g5k-nfs-store kernel and initrd with kexec's command line: stage 1 mounts the store
    over NFSv3 with busybox's mount (network kept up, nfsv3 loaded), the node boots its role
    system, is ready with the pinned key, and its store is writable (an overlay) over the
    read-only export."""
    _, composition = _built(tmp_path, "g5k-nfs-store")
    artefacts = composition.artefacts
    system = _role_system(composition)
    node = _delivery(tmp_path / "node", system)
    append = f"{artefacts.cmdline} nxc.nfs_store={nfs_store} {node.params}"
    assert len(append.encode()) < 2048, "kexec's command line limit"
    console = tmp_path / "console.log"
    with _qemu(artefacts.kernel, artefacts.initrd, append, node, console, []) as process:
        _wait_ready(node, process, console)
        mounts = node.ssh("cat /proc/mounts").stdout
        assert f"{nfs_store} /nix/.ro-store nfs ro," in mounts, mounts
        assert "vers=3" in mounts
        current = node.ssh("readlink -f /run/current-system").stdout.strip()
        assert current == system
        assert node.ssh("cat /run/nxc/hostname").stdout == "node1\n"
        added = node.ssh("echo hi > /tmp/f && nix-store --add /tmp/f")
        assert added.returncode == 0, added.stdout + added.stderr
        valid = node.ssh("nix-store --verify-path /run/current-system")
        assert valid.returncode == 0, valid.stdout + valid.stderr


def _as_root(argv: list[str]) -> list[str]:
    """``argv`` run so that files it makes are owned by root (as Kadeploy's root does)."""
    if os.geteuid() == 0:
        return argv
    return [_tool("fakeroot", "fakeroot"), "--", *argv]


def _kadeploy_disk(tarball: str, work: Path) -> Path:
    """A disk as Kadeploy makes it for ``kind: tar`` (see kaenv.yaml): one MBR partition of
    type 0x83 (``partition_type: 131``), ext4 (``filesystem: ext4``), the tarball unpacked
    into it. Built from files (sfdisk on the disk image, mkfs.ext4 -d), no loop device."""
    sfdisk = _tool("sfdisk", "fdisk")
    mkfs = _tool("mkfs.ext4", "e2fsprogs")
    work.mkdir()
    root, partition, disk = work / "root", work / "part.img", work / "disk.img"
    root.mkdir()
    size_mib = 8192
    unpack = ["tar", "-xzpf", tarball, "-C", str(root)]
    make_fs = [mkfs, "-q", "-F", "-U", FS_UUID, "-d", str(root), str(partition), f"{size_mib}M"]
    script = (
        f"{shlex.join(unpack)} && {shlex.join(make_fs)} && chmod -R u+w {shlex.quote(str(root))}"
    )
    subprocess.run(_as_root(["sh", "-c", script]), check=True, timeout=3600)
    with disk.open("wb") as handle:
        handle.truncate((size_mib + 1) * 1024 * 1024)
    layout = f"label: dos\nlabel-id: {DISK_ID}\nstart=2048, type=83\n"
    subprocess.run([sfdisk, "-q", str(disk)], input=layout, text=True, check=True, timeout=60)
    subprocess.run(
        ["dd", f"if={partition}", f"of={disk}", "bs=1M", "seek=1", "conv=notrunc,sparse",
         "status=none"],
        check=True, timeout=3600,
    )  # fmt: skip
    partition.unlink()
    shutil.rmtree(root, ignore_errors=True)
    return disk


def test_g5k_image_boots_as_kadeploy_installs_it(tmp_path: Path, requires_nix):
    """The g5k-image tarball on a disk as Kadeploy makes it: /boot holds regular files, and
    the node boots from them to ready with root= as a path, UUID= and PARTUUID=."""
    _, composition = _built(tmp_path, "g5k-image")
    tarball = composition.artefacts.image
    assert tarball is not None
    if Path(tarball).is_dir():
        (tarball,) = [str(p) for p in Path(tarball).glob("*.tar.gz")]
    disk = _kadeploy_disk(tarball, tmp_path / "disk")
    boot = tmp_path / "boot"
    subprocess.run(["tar", "-xzf", tarball, "-C", str(tmp_path), "boot"], check=True, timeout=600)
    for name in ("bzImage", "initrd", "init"):
        entry = boot / name
        assert entry.is_file() and not entry.is_symlink(), f"/boot/{name}"
    system = _role_system(composition)
    # a SATA disk (ahci + sd_mod, in the boot system's initrd): /dev/sda on the node
    drive = [
        "-drive", f"file={disk},format=raw,if=none,id=d0",
        "-device", "ahci,id=ahci", "-device", "ide-hd,drive=d0,bus=ahci.0",
    ]  # fmt: skip
    for index, root in enumerate(ROOT_FORMS):
        node = _delivery(tmp_path / f"node{index}", system)
        # Kadeploy: the environment's kernel_params (nxc's, per node) and root= of the partition
        append = f"{composition.artefacts.cmdline} {node.params} root={root}"
        console = tmp_path / f"console{index}.log"
        kernel, initrd = str(boot / "bzImage"), str(boot / "initrd")
        with _qemu(kernel, initrd, append, node, console, drive) as process:
            _wait_ready(node, process, console)
            # matched by device number: /proc/mounts names it /dev/root
            mounted = node.ssh("lsblk -n -o MOUNTPOINT /dev/sda1; findmnt -n -o FSTYPE /")
            assert mounted.stdout.split() == ["/", "ext4"], (root, mounted.stdout)
            current = node.ssh("readlink -f /run/current-system").stdout.strip()
            assert current == system, root
            registered = node.ssh("nix-store --verify-path /run/current-system")
            assert registered.returncode == 0, registered.stdout + registered.stderr
            node.ssh("poweroff")


@pytest.fixture
def docker_reachable() -> None:
    """Skips unless the ``docker`` client reaches an engine (``DOCKER_HOST`` or its socket)."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("needs docker (docker.io) and a running engine")
    info = subprocess.run([docker, "info"], capture_output=True, timeout=60, check=False)
    if info.returncode != 0:
        pytest.skip("no Docker engine answers (start dockerd, or set DOCKER_HOST)")


def test_docker_nixos_containers_are_ready_with_their_pinned_keys(
    tmp_path: Path, requires_nix, docker_reachable
):
    """Real NixOS containers: nxc start returns once each answers SSH with its pinned key;
    sshd is a service (not socket-activated), nxc-ready ran, and each node's host key is the
    one nxc generated for it."""
    project, _ = _built(tmp_path, "docker")
    started = run_nxc("start", "-f", "docker", "-r", "node=2", cwd=project, timeout=1800)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        deployment = DeploymentStore(project / "deploy").latest(flavour="docker")
        for node in deployment.nodes:
            units = run_nxc(
                "run", node.hostname, "--",
                "systemctl is-active sshd.service; systemctl is-active sshd.socket;"
                " journalctl -b -o cat -u nxc-ready.service",
                cwd=project,
            )  # fmt: skip
            words = units.stdout.split()
            assert "active" in words and "inactive" in words, units.stdout
            assert f"nxc-ready {node.hostname}" in units.stdout, units.stdout
            public = run_nxc(
                "run", node.hostname, "--", "ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key",
                cwd=project,
            )  # fmt: skip
            assert node.host_key is not None
            blob = node.host_key.split()[1]  # "ssh-ed25519 BLOB comment"
            assert blob.startswith("AAAA") and blob in public.stdout.split(), public.stdout
    finally:
        run_nxc("stop", cwd=project)


def test_docker_nodes_have_a_writable_registered_store(
    tmp_path: Path, requires_nix, docker_reachable
):
    """A docker node's store is an overlay over the host's (flavours/docker.nix) with its role
    system's closure registered: its system verifies, `nix path-info` knows it, and a path
    added in the node stays in the node (not in the host's store)."""
    project, _ = _built(tmp_path, "docker")
    started = run_nxc("start", "-f", "docker", "-r", "node=1", cwd=project, timeout=1800)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        mounts = run_nxc("run", "--", "findmnt -n -o FSTYPE /nix/.rw-store", cwd=project)
        assert "tmpfs" in mounts.stdout.split(), mounts.stdout + mounts.stderr
        for check in (
            "nix-store --verify-path /run/current-system",
            "nix --extra-experimental-features nix-command path-info /run/current-system",
        ):
            result = run_nxc("run", "--", check, cwd=project)
            assert result.returncode == 0, check + result.stdout + result.stderr
        added = run_nxc(
            "run", "--", "echo in-a-node > /tmp/f && nix-store --add /tmp/f", cwd=project
        )
        assert added.returncode == 0, added.stdout + added.stderr
        path = added.stdout.split()[-1]
        assert path.startswith("/nix/store/") and not Path(path).exists(), path
    finally:
        run_nxc("stop", cwd=project)
