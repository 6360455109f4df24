"""The guest builder: real Debian packages in, a bootable and complete initramfs out."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.testbed.build import Artifacts, build
from tests.testbed.cpio import Tree
from tests.testbed.kmod import modinfo

SELECT = "/usr/lib/nxc/select.jq"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chroot into the image needs root")


@pytest.fixture(scope="module")
def unpacked_initrd(busybox_guest: Artifacts, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox variant's initramfs unpacked with the real cpio tool."""
    root = tmp_path_factory.mktemp("initrd")
    archive = gzip.decompress(busybox_guest.initrd.read_bytes())
    subprocess.run(
        ["cpio", "-idm", "--quiet", "--no-absolute-filenames"],
        input=archive,
        cwd=root,
        check=True,
    )
    return root


def test_description_matches_the_files(busybox_guest: Artifacts) -> None:
    """testbed.json names the kernel and initrd with their real hashes and packages."""
    info = busybox_guest.info()
    assert info["variant"] == "busybox"
    assert Path(info["kernel"]) == busybox_guest.kernel.resolve()
    assert Path(info["initrd"]) == busybox_guest.initrd.resolve()
    for name, path in (("vmlinuz", busybox_guest.kernel), ("initrd", busybox_guest.initrd)):
        assert info[f"{name}_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["min_memory_mb"] >= 128
    assert {"busybox-static", "openssh-server", "kexec-tools", "jq"} <= set(info["packages"])


@needs_root
def test_programs_run_with_only_the_libraries_in_the_image(unpacked_initrd: Path) -> None:
    """Each copied program starts inside the image (chroot): its library closure is complete."""
    checks = [
        ["/usr/sbin/sshd", "-t", "-f", "/etc/ssh/sshd_config", "-h", "/dev/null"],
        ["/usr/bin/ssh", "-V"],
        ["/usr/bin/ssh-keygen", "-l", "-f", "/dev/null"],
        ["/usr/sbin/kexec", "--version"],
        ["/usr/bin/jq", "--version"],
        ["/usr/lib/openssh/sftp-server", "-h"],
    ]
    for argv in checks:
        result = subprocess.run(
            ["chroot", str(unpacked_initrd), *argv], capture_output=True, text=True, check=False
        )
        output = result.stdout + result.stderr
        assert "error while loading shared libraries" not in output, f"{argv[0]}: {output}"
        assert result.returncode != 127, f"{argv[0]} is missing: {output}"


def test_modules_are_loaded_after_their_dependencies(unpacked_initrd: Path) -> None:
    """modules.order lists every module after the ones it depends on, 9p and fw_cfg included."""
    modules = unpacked_initrd / "usr/lib/nxc/modules"
    order = (unpacked_initrd / "usr/lib/nxc/modules.order").read_text().split()
    assert {"virtio_net", "9pnet_virtio", "9p", "qemu_fw_cfg"} <= set(order)
    for position, name in enumerate(order):
        depends = modinfo((modules / f"{name}.ko").read_bytes()).get("depends", "")
        for dependency in filter(None, depends.split(",")):
            assert dependency.replace("-", "_") in order[:position], f"{name} before {dependency}"


@needs_root
def test_init_and_contract_scripts_are_in_place(unpacked_initrd: Path) -> None:
    """/init is busybox init, and the contract scripts are executable."""
    assert (unpacked_initrd / "init").readlink() == Path("/usr/bin/busybox")
    for script in ("boot", "node-setup", "udhcpc.script"):
        path = unpacked_initrd / "usr/lib/nxc" / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
    info = {"nodes": [{"hostname": "a", "address": "10.1.0.1", "mac": "52:54:00:AA:00:01"}]}
    jq = ["chroot", str(unpacked_initrd), "/usr/bin/jq", "-r"]
    result = subprocess.run(
        [*jq, "--arg", "macs", "52:54:00:aa:00:01", "--arg", "ips", "", "-f", SELECT],
        input=json.dumps(info),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "hostname='a'" in result.stdout.splitlines()
    assert "mac='52:54:00:aa:00:01'" in result.stdout.splitlines()


def test_second_build_comes_from_the_cache(busybox_guest: Artifacts, tmp_path: Path) -> None:
    """Rebuilding with unchanged packages and sources takes seconds and gives the same bytes."""
    start = time.monotonic()
    again = build("busybox", tmp_path / "again")
    elapsed = time.monotonic() - start
    assert elapsed < 5, f"cached rebuild took {elapsed:.1f} s"
    assert again.info()["key"] == busybox_guest.info()["key"]
    assert again.initrd.read_bytes() == busybox_guest.initrd.read_bytes()


def test_unknown_variant_is_refused_with_exit_code_2(tmp_path: Path) -> None:
    """The builder's command line names the bad variant and the valid ones."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.testbed.build", "--variant", "nixos", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[2],
        check=False,
    )
    assert result.returncode == 2
    assert "invalid choice: 'nixos'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cpio_archive_round_trips_through_the_cpio_tool(tmp_path: Path) -> None:
    """The Python newc writer produces what GNU cpio reads back: files, links, devices."""
    tree = Tree()
    tree.file("etc/motd", b"hello\n", 0o640)
    tree.symlink("bin", "usr/bin")
    tree.char_device("dev/console", 5, 1)
    archive = tmp_path / "a.cpio.gz"
    tree.write(archive)
    listing = subprocess.run(
        ["cpio", "-itv", "--quiet"],
        input=gzip.decompress(archive.read_bytes()),
        capture_output=True,
        check=True,
    ).stdout.decode()
    lines = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line
        for line in listing.splitlines()
    }
    assert lines["etc/motd"].startswith("-rw-r-----")
    assert lines["bin"].endswith("bin -> usr/bin")
    assert lines["dev/console"].startswith("crw-------") and "5,   1" in lines["dev/console"]
