"""Per-role kernels on the vm and vm-ramdisk flavours, through the real ``nxc start`` and real
QEMU: a node boots its role's own kernel, initrd and command line (the manifest's
``role_boot``), the other roles' nodes the shared ones.

The role's kernel and initrd are the test-bed guest's, copied (nixpkgs kernels cannot be
built here): the paths differ, which is what the flavour goes by; its command line carries a
marker word the shared one lacks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.vm.conftest import VmProject, nxc
from tests.vm.test_vm_e2e import ssh

MARKER = "nxc.testrole=big"


def add_big_role(project: VmProject, tmp_path: Path, flavour: str) -> tuple[Path, Path]:
    """Make the project's manifest a ``flavour`` build with a role ``big`` booting copies of
    the guest's files."""
    data = json.loads(project.manifest_path.read_text())
    data["flavour"] = flavour
    composition = data["compositions"]["testbed"]
    artefacts = composition["artefacts"]
    own = tmp_path / "big"
    own.mkdir()
    kernel = Path(shutil.copy(artefacts["kernel"], own / "bzImage"))
    initrd = Path(shutil.copy(artefacts["initrd"], own / "initrd"))
    composition["roles"]["big"] = {
        "system": "/nix/store/00000000000000000000000000000000-role-big",
        "default_count": 1,
    }
    artefacts["role_boot"] = {
        "big": {
            "kernel": str(kernel),
            "initrd": str(initrd),
            "cmdline": f"{artefacts['cmdline']} {MARKER}",
        }
    }
    project.manifest_path.write_text(json.dumps(data))
    return kernel, initrd


@pytest.mark.vm
@pytest.mark.parametrize("flavour", ["vm", "vm-ramdisk"])
def test_each_node_boots_its_roles_kernel_and_they_reach_each_other(
    vm_project: VmProject, vm_cleanup: list, tmp_path: Path, flavour: str
) -> None:
    kernel, initrd = add_big_role(vm_project, tmp_path, flavour)
    shared = vm_project.manifest().composition().artefacts
    name = f"testbed::{flavour}"
    vm_cleanup.append((vm_project.store, name))
    started = nxc(
        "start", "--manifest", str(vm_project.manifest_path), "-f", flavour,
        "-r", "big=1", "-r", "node=1", "--accel", "tcg", "--timeout", "900",
        "-k", "nxc_test.user=1", cwd=vm_project.root, timeout=1000,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    deployment = vm_project.store.load(name)

    def booted(hostname: str) -> tuple[str, str]:
        argv = deployment.node(hostname).extra["argv"]
        return argv[argv.index("-kernel") + 1], argv[argv.index("-initrd") + 1]

    assert booted("big1") == (str(kernel), str(initrd))
    assert booted("node1") == (shared.kernel, shared.initrd)
    for hostname, marked in (("big1", True), ("node1", False)):
        cmdline = ssh(vm_project, deployment, hostname, "cat /proc/cmdline").stdout.split()
        assert (MARKER in cmdline) is marked, cmdline
        assert "nxc_test.user=1" in cmdline  # the user's parameters follow the role's
    for hostname, other in (("big1", "node1"), ("node1", "big1")):
        reached = ssh(vm_project, deployment, hostname, f"ping -c3 -W5 {other}")
        assert reached.returncode == 0, reached.stdout + reached.stderr
