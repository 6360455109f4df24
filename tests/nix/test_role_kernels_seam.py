"""Per-role boot files (``role_boot``) from the real NixOS seam, evaluated and built by real
Nix with tests/fixtures/fakenixpkgs standing in for nixpkgs (it cannot be fetched here).

In that stand-in a role system's kernel is a different derivation from the boot system's (the
boot system's carries its role list), so every role counts as having a kernel of its own: this
proves the plumbing (each role's own kernel, the initrd kind of each flavour, the role's own
init), not the comparison that leaves out the roles booting the boot system's kernel; the
``nixos``-marked test tests/nix/test_role_kernels_nixos.py covers that with real kernels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import REPO, run_nxc
from tests.nix.test_nixos_compose_compat import _seam_project
from tests.nix.test_nixos_seam import _build, seam_project  # noqa: F401 (fixture)

pytestmark = pytest.mark.nix


@pytest.mark.parametrize(
    ("flavour", "initrd_kind"),
    [
        ("vm", "initrd-"),
        ("g5k-nfs-store", "initrd-"),
        ("g5k-ramdisk", "netboot-ramdisk"),
        ("vm-ramdisk", "netboot-ramdisk"),
    ],
)
def test_each_role_gets_its_own_kernel_initrd_and_init(seam_project, flavour, initrd_kind):  # noqa: F811
    composition, roles = _build(seam_project, flavour)
    role_boot = composition.artefacts.role_boot
    assert role_boot is not None and set(role_boot) == set(roles)
    for name, role in roles.items():
        own = role_boot[name]
        assert Path(own.kernel).is_file() and own.kernel != composition.artefacts.kernel
        assert Path(own.initrd).is_file() and Path(own.initrd).name == "initrd"
        assert initrd_kind in own.initrd
        assert own.initrd != composition.artefacts.initrd
        words = own.cmdline.split()
        assert words[0] == f"init={role.system}/init"
        registered = [w for w in words if w.startswith("nxc.reg_info=")]
        if initrd_kind == "netboot-ramdisk":  # the squashfs registers its own closure
            assert registered == []
        else:  # the role's own closure, registered at boot (flavours/store-registration.nix)
            (word,) = registered
            assert Path(word.removeprefix("nxc.reg_info=")).read_text().split() == [role.system]
        assert composition.boot_files(name) == (own.kernel, own.initrd, own.cmdline)


@pytest.mark.parametrize("flavour", ["g5k-image", "docker"])
def test_image_and_docker_have_no_role_boot(seam_project, flavour):  # noqa: F811
    composition, _ = _build(seam_project, flavour)
    assert composition.artefacts.role_boot is None


def test_the_nixos_compose_shaped_project_builds_with_its_roles_boot(tmp_path, requires_nix):
    """tests/fixtures/nxc-role-kernels (role ``big`` sets boot.kernelPackages) through the
    real seam: its composition evaluates and each role's own boot files are built."""
    project = _seam_project(tmp_path, "import ./composition.nix")
    fixture = REPO / "tests" / "fixtures" / "nxc-role-kernels"
    shutil.copyfile(fixture / "composition.nix", project / "composition.nix")
    result = run_nxc("build", "-f", "vm", cwd=project)
    assert result.returncode == 0, result.stderr
    composition = load(project / "build" / "composition::vm" / "manifest.json").compositions[0]
    assert composition.role_names() == ("big", "small")
    assert 'big.succeed("uname -r")' in (composition.test_script or "")
    role_boot = composition.artefacts.role_boot or {}
    for role in composition.roles:
        assert role_boot[role.name].cmdline.startswith(f"init={role.system}/init")
