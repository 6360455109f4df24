"""The flavour modules built into real NixOS systems (nixpkgs 25.05), where Nix has network.

Each test is a few `nxc` commands a user can run by hand in a project made by
`nxc init -t basic`; run them with `NXC_TEST_NIX_ONLINE=1 pytest -m nixos tests/nix`.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import run_nxc

BUILD_TIMEOUT = 3 * 3600
# pytest-timeout's 600 s default (pyproject.toml) would end a build before its own timeout
pytestmark = [pytest.mark.nix, pytest.mark.nixos, pytest.mark.timeout(BUILD_TIMEOUT + 3600)]


def built(tmp_path: Path, flavour: str):
    """`nxc init -t basic` then `nxc build -f FLAVOUR`; the composition's manifest entry."""
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    result = run_nxc("build", "-f", flavour, cwd=tmp_path / "p", timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    manifest = load(tmp_path / "p" / "build" / f"composition::{flavour}" / "manifest.json")
    return manifest.compositions[0]


def test_docker_system_runs_sshd_as_a_service(tmp_path: Path, requires_nix):
    """No socket activation (container-config.nix's default): nxc-ready requires sshd.service."""
    composition = built(tmp_path, "docker")
    system = Path(composition.artefacts.containers["node"]["system"])
    units = system / "etc" / "systemd" / "system"
    assert (units / "sshd.service").exists()
    assert not (units / "sshd.socket").exists()
    assert "sshd.service" in (units / "nxc-ready.service").read_text()


def test_vm_store_overlay_and_registration(tmp_path: Path, requires_nix):
    composition = built(tmp_path, "vm")
    (reg_info,) = [
        w for w in composition.artefacts.cmdline.split() if w.startswith("nxc.reg_info=")
    ]
    registration = Path(reg_info.removeprefix("nxc.reg_info="))
    role_system = next(role.system for role in composition.roles if role.name == "node")
    assert role_system in registration.read_text()
    fstab = (Path(role_system) / "etc" / "fstab").read_text()
    assert "/nix/.ro-store" in fstab and "overlay" in fstab


def test_vm_node_boots_with_default_memory_and_a_usable_nix(tmp_path: Path, requires_nix):
    """Boots one VM with no --memory: 1024 MiB (less the kernel's share), nix can add paths."""
    built(tmp_path, "vm")
    project = tmp_path / "p"
    started = run_nxc("start", "-r", "node=1", cwd=project, timeout=1800)
    try:
        assert started.returncode == 0, started.stderr
        memory = run_nxc("run", "--", "grep", "MemTotal", "/proc/meminfo", cwd=project)
        assert memory.returncode == 0, memory.stderr
        assert int(memory.stdout.split()[-2]) > 900 * 1024, memory.stdout
        added = run_nxc("run", "--", "echo hi > /tmp/f && nix-store --add /tmp/f", cwd=project)
        assert added.returncode == 0, added.stdout + added.stderr
        valid = run_nxc("run", "--", "nix-store --verify-path /run/current-system", cwd=project)
        assert valid.returncode == 0, valid.stdout + valid.stderr
    finally:
        run_nxc("stop", cwd=project)


def test_g5k_image_boot_entries_are_regular_files(tmp_path: Path, requires_nix):
    composition = built(tmp_path, "g5k-image")
    with tarfile.open(composition.artefacts.image) as tar:
        for name in ("boot/bzImage", "boot/initrd", "boot/init"):
            assert tar.getmember(name).isreg(), name


def test_vm_ramdisk_boots_the_ramdisk_path_and_runs_the_test_script(tmp_path: Path, requires_nix):
    """g5k-ramdisk's boot system in local QEMU: the store in the initrd (no 9p store), info and
    host key fetched by URL (no fw_cfg), the key on no command line; the template's test
    script passes (`nxc start -t`), and the stop leaves nothing running."""
    composition = built(tmp_path, "vm-ramdisk")
    assert "nxc.host_key" not in composition.artefacts.cmdline
    project = tmp_path / "p"
    tested = run_nxc("start", "-f", "vm-ramdisk", "-t", cwd=project, timeout=3600)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "stopped composition::vm-ramdisk" in tested.stdout
    started = run_nxc("start", "-f", "vm-ramdisk", "-r", "node=1", cwd=project, timeout=1800)
    try:
        assert started.returncode == 0, started.stderr
        cmdline = run_nxc("run", "--", "cat", "/proc/cmdline", cwd=project)
        assert "nxc.info_url=http://10.0.2.100/" in cmdline.stdout, cmdline.stdout
        assert "nxc.host_key_url=" in cmdline.stdout and "PRIVATE" not in cmdline.stdout
        key = run_nxc("run", "--", "stat", "-c", "%a", "/run/nxc/host_key", cwd=project)
        assert key.stdout.strip() == "600", key.stdout + key.stderr
        mounts = run_nxc("run", "--", "cat", "/proc/mounts", cwd=project)
        assert "squashfs" in mounts.stdout and "nixstore" not in mounts.stdout
    finally:
        run_nxc("stop", cwd=project)
