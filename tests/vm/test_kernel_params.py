"""NixOS-Compose's ways to pass kernel parameters and QEMU settings, through the real
``nxc start``: setup.toml's ``kernel-params`` (variant chosen with ``-s``) or ``-k``, and the
``MEM`` / ``QEMU_OPTS`` environment variables, seen by a booted test-bed VM."""

from __future__ import annotations

import os

import pytest

from tests.vm.conftest import VmProject, nxc
from tests.vm.test_vm_e2e import ssh

SETUP = """\
[options]
kernel-params = "nxc_test.top=1"

[fast.options]
kernel-params = 'nxc_test.variant=fast nxc_test.quoted="a b"'
"""


def start(project: VmProject, cleanup: list, *args: str, env: dict[str, str]):
    cleanup.append((project.store, "testbed::vm"))
    started = nxc(
        "start", "--manifest", str(project.manifest_path), "-r", "node=1", "--accel", "tcg",
        "--timeout", "900", *args, cwd=project.root, timeout=1000, env={**os.environ, **env},
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    return project.store.load("testbed::vm")


@pytest.mark.vm
def test_setup_variant_kernel_params_and_environment_aliases_reach_the_guest(
    vm_project: VmProject, vm_cleanup: list
) -> None:
    (vm_project.root / "setup.toml").write_text(SETUP)
    deployment = start(
        vm_project, vm_cleanup, "-s", "fast",
        env={"MEM": "200M", "QEMU_OPTS": "-smbios type=1,serial=nxc-qemu-opts"},
    )  # fmt: skip
    cmdline = ssh(vm_project, deployment, "node1", "cat /proc/cmdline").stdout
    assert "nxc_test.variant=fast" in cmdline.split()
    assert 'nxc_test.quoted="a b"' in cmdline
    assert "nxc_test.top=1" not in cmdline  # the variant's kernel-params replace [options]'
    serial = ssh(vm_project, deployment, "node1", "cat /sys/class/dmi/id/product_serial")
    assert serial.stdout.strip() == "nxc-qemu-opts"
    argv = deployment.node("node1").extra["argv"]
    assert argv[argv.index("-m") + 1] == "200M"


@pytest.mark.vm
def test_flags_win_over_setup_and_environment(vm_project: VmProject, vm_cleanup: list) -> None:
    (vm_project.root / "setup.toml").write_text(SETUP)
    deployment = start(
        vm_project, vm_cleanup, "-k", "nxc_test.flag=1", "--memory", "192M",
        env={"MEM": "300M"},
    )  # fmt: skip
    cmdline = ssh(vm_project, deployment, "node1", "cat /proc/cmdline").stdout.split()
    assert "nxc_test.flag=1" in cmdline and "nxc_test.top=1" not in cmdline
    argv = deployment.node("node1").extra["argv"]
    assert argv[argv.index("-m") + 1] == "192M"
