"""Kernel and initrd pushes to a host whose ``/tmp`` other users share: nothing there is trusted.

The host is a network-namespace host of ``tests/netns.py`` with a real ``sshd``, reached by
nxc's real :class:`~nxc.flavours.g5k.kexec.HostShell` (OpenSSH, root, pinned host key). Its sshd
runs with a folder of the test bound on ``/tmp`` (mode 1777 like a real one), so that the
default :data:`~nxc.flavours.g5k.kexec.REMOTE_DIR` is used for real and the test can plant what a
hostile local user would. A second check runs the same shell code under busybox ``sh`` (the
test-bed hosts' shell), through a stand-in for ``ssh``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nxc.errors import ExternalCommandError
from nxc.flavours.g5k import kexec
from nxc.keys import generate_keypair, write_private_key
from tests.netns import NamespaceHosts

NOBODY = 65534


@dataclass
class PushHost:
    """One host: its address, the folder standing for its ``/tmp``, and a shell to reach it."""

    address: str
    tmp: Path
    shell: kexec.HostShell

    @property
    def remote_dir(self) -> Path:
        """:data:`kexec.REMOTE_DIR` as this machine sees it."""
        return self.tmp / Path(kexec.REMOTE_DIR).relative_to("/tmp")


@pytest.fixture(scope="module")
def push_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PushHost]:
    if os.geteuid() != 0:
        pytest.skip("namespace hosts need root")
    for tool in ("ip", "nsenter", "unshare", "sshd", "ssh"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"namespace hosts need {tool}")
    work = tmp_path_factory.mktemp("kexec-push")
    # sshd's own files must stay visible once the test's folder hides the host's /tmp
    sshd_dir = Path(tempfile.mkdtemp(prefix="nxc-kexec-push-", dir="/run"))
    client = generate_keypair("kexec-push-client")
    key = work / "id_ed25519"
    write_private_key(key, client)
    hosts = NamespaceHosts(1, sshd_dir, client.public_line, hostname_prefix="g5k-")
    try:
        (host,) = hosts.up()
        host_tmp = work / "host-tmp"
        host_tmp.mkdir()
        host_tmp.chmod(0o1777)
        host.kill()
        host.start_sshd(binds={host_tmp: "/tmp"})
        host.wait_listening()
        known_hosts = work / "known_hosts"
        known_hosts.write_text(f"{host.address} {host.host_key}\n")
        options = ("-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}",
                   "-o", "StrictHostKeyChecking=yes")  # fmt: skip
        yield PushHost(host.address, host_tmp, kexec.HostShell.found("root", options))
    finally:
        hosts.down()
        shutil.rmtree(sshd_dir)


@pytest.fixture
def host(push_host: PushHost) -> Iterator[PushHost]:
    """The host with an empty ``/tmp`` before and after each test."""
    for entry in push_host.tmp.iterdir():
        _remove(entry)
    yield push_host
    for entry in push_host.tmp.iterdir():
        _remove(entry)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _boot_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(exist_ok=True)
    kernel, initrd = folder / "kernel", folder / "initrd"
    kernel.write_bytes(b"kernel" * 4000)
    initrd.write_bytes(b"initrd" * 9000)
    return {kexec.sha256_of(path): path for path in (kernel, initrd)}


def test_planted_part_link_and_wrong_content_are_neither_followed_nor_trusted(host, tmp_path):
    """In a folder of root's own (e.g. left world-readable by an older nxc), someone planted
    ``<digest>.part`` as a link to a precious file, a file of other content named by the
    initrd's digest, and a link named by the kernel's digest. The push writes through none of
    them, trusts neither, and leaves regular files of the right content, in a 0700 folder."""
    files = _boot_files(tmp_path / "local")
    kernel_digest, initrd_digest = files
    precious = tmp_path / "precious"
    precious.write_text("not to be overwritten")
    host.remote_dir.mkdir(mode=0o755)
    (host.remote_dir / f"{kernel_digest}.part").symlink_to(precious)
    (host.remote_dir / f"{initrd_digest}.part").symlink_to(precious)
    (host.remote_dir / initrd_digest).write_bytes(b"a wrong initrd")
    (host.remote_dir / kernel_digest).symlink_to(precious)

    assert kexec.push_artefacts(host.shell, host.address, files) == [kernel_digest, initrd_digest]

    assert precious.read_text() == "not to be overwritten"
    for digest, local in files.items():
        remote = host.remote_dir / digest
        assert not remote.is_symlink() and remote.read_bytes() == local.read_bytes()
    assert stat.S_IMODE(host.remote_dir.stat().st_mode) == 0o700
    assert not [p for p in host.remote_dir.iterdir() if p.name.startswith(".part.")]


def test_files_already_there_are_reused_only_while_their_content_matches(host, tmp_path):
    files = _boot_files(tmp_path / "local")
    initrd_digest = list(files)[1]
    assert kexec.push_artefacts(host.shell, host.address, files) == list(files)
    assert kexec.push_artefacts(host.shell, host.address, files) == []
    (host.remote_dir / initrd_digest).write_bytes(b"altered in place")
    assert kexec.push_artefacts(host.shell, host.address, files) == [initrd_digest]
    assert (host.remote_dir / initrd_digest).read_bytes() == files[initrd_digest].read_bytes()


def test_a_folder_of_another_user_is_refused_and_left_alone(host, tmp_path):
    files = _boot_files(tmp_path / "local")
    host.remote_dir.mkdir(mode=0o777)
    os.chown(host.remote_dir, NOBODY, NOBODY)
    with pytest.raises(ExternalCommandError, match=f"belongs to uid {NOBODY}, not to uid 0"):
        kexec.push_artefacts(host.shell, host.address, files)
    assert list(host.remote_dir.iterdir()) == []


def test_a_link_in_place_of_the_folder_is_refused(host, tmp_path):
    files = _boot_files(tmp_path / "local")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    host.remote_dir.symlink_to(elsewhere)
    with pytest.raises(ExternalCommandError, match="is not a folder"):
        kexec.push_artefacts(host.shell, host.address, files)
    assert list(elsewhere.iterdir()) == []


def test_a_copy_that_arrives_altered_takes_no_name(host, tmp_path):
    """The digest is checked on the host after the copy: content that does not match (here a
    local file changed after it was hashed) is refused and its temporary file removed."""
    files = _boot_files(tmp_path / "local")
    kernel_digest = next(iter(files))
    files[kernel_digest].write_bytes(b"changed after hashing")
    with pytest.raises(ExternalCommandError, match=f"not {kernel_digest}"):
        kexec.push_artefacts(host.shell, host.address, files)
    assert list(host.remote_dir.iterdir()) == []


@pytest.fixture
def busybox_shell(tmp_path: Path) -> kexec.HostShell:
    """A stand-in for ``ssh`` running the remote command in busybox ``sh`` with only busybox's
    applets on PATH, as on the test-bed hosts."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is needed")
    applets = tmp_path / "applets"
    applets.mkdir()
    subprocess.run([busybox, "--install", "-s", str(applets)], check=True)
    fake = tmp_path / "fake-ssh"
    fake.write_text(
        f'#!/bin/sh\nfor last; do :; done\nPATH={applets} exec {busybox} sh -c "$last"\n'
    )
    fake.chmod(0o755)
    return kexec.HostShell("root", (), str(fake))


def test_the_push_runs_under_busybox_sh(busybox_shell, tmp_path):
    files = _boot_files(tmp_path / "local")
    remote = tmp_path / "tmp" / "nxc-kexec"
    remote.parent.mkdir()
    remote.mkdir(mode=0o755)
    (remote / next(iter(files))).write_bytes(b"wrong")
    assert kexec.push_artefacts(busybox_shell, "h", files, str(remote)) == list(files)
    assert kexec.push_artefacts(busybox_shell, "h", files, str(remote)) == []
    assert stat.S_IMODE(remote.stat().st_mode) == 0o700
    for digest, local in files.items():
        assert (remote / digest).read_bytes() == local.read_bytes()
