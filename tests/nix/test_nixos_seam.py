"""The real NixOS seam (nxc/nix/seam/nixos.nix) evaluated and built by real Nix, with
tests/fixtures/fakenixpkgs standing in for nixpkgs, which cannot be fetched here.

What this proves: the seam's own plumbing (module lists and their paths, the boot system that
carries every role, which artefacts each flavour gets, the manifest package). What it cannot:
that NixOS accepts the modules; the `nixos`-marked tests and the flake's checks do that.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import NIX_LIBRARY, REPO, run_nxc

pytestmark = pytest.mark.nix

FAKE = REPO / "tests" / "fixtures" / "fakenixpkgs"


@pytest.fixture
def seam_project(tmp_path: Path, requires_nix: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(NIX_LIBRARY, project / "nxc-nix")
    shutil.copytree(FAKE, project / "fakenixpkgs")
    shutil.copyfile(FAKE / "project-flake.nix", project / "flake.nix")
    return project


def _build(project: Path, flavour: str):
    result = run_nxc("build", "-f", flavour, cwd=project)
    assert result.returncode == 0, result.stderr
    manifest = load(project / "build" / f"composition::{flavour}" / "manifest.json")
    composition = manifest.compositions[0]
    return composition, {role.name: role for role in composition.roles}


@pytest.mark.parametrize("flavour", ["vm", "g5k-nfs-store", "g5k-ramdisk", "g5k-image"])
def test_all_in_one_flavours_boot_one_kernel_carrying_every_role(seam_project, flavour):
    composition, roles = _build(seam_project, flavour)
    assert roles["client"].default_count == 3
    for name, role in roles.items():
        assert Path(role.system, "role").read_text().strip() == name
    artefacts = composition.artefacts
    assert artefacts.kernel.endswith("/bzImage") and Path(artefacts.kernel).is_file()
    assert Path(artefacts.initrd).name == "initrd"
    boot_init = artefacts.cmdline.split()[0]
    assert boot_init.startswith("init=/nix/store/") and boot_init.endswith(
        "-nixos-system-boot/init"
    )
    assert "console=ttyS0,115200" in artefacts.cmdline
    boot_system = Path(boot_init.removeprefix("init=")).parent
    carried = set(Path(boot_system, "role-systems").read_text().split())
    assert carried == {role.system for role in roles.values()}
    if flavour == "g5k-ramdisk":
        assert "netboot-ramdisk" in artefacts.initrd
    if flavour == "g5k-image":
        assert artefacts.image.endswith("/nxc-g5k-image.tar.gz")
        assert Path(artefacts.image).is_file()
    else:
        assert artefacts.image is None


def test_docker_gets_one_container_system_per_role_with_its_registration(seam_project):
    """Each role's container: its system and the registration of that system's closure (a
    derivation of its own, which the docker flavour binds into the container)."""
    composition, roles = _build(seam_project, "docker")
    containers = composition.artefacts.containers
    assert set(containers) == set(roles)
    for name, role in roles.items():
        assert set(containers[name]) == {"system", "registration"}
        assert containers[name]["system"] == role.system
        registration = Path(containers[name]["registration"])
        assert registration.name == "registration" and not registration.is_relative_to(role.system)
        assert registration.read_text().split() == [role.system]
    assert composition.artefacts.kernel is None


def test_every_flavour_has_its_module(seam_project):
    """The seam imports nxc/nix/flavours/<name>.nix for each flavour the library knows."""
    listed = run_nxc("build", "--list", cwd=seam_project)
    flavours = {name.split("::")[1] for name in listed.stdout.split()}
    shared = {"g5k-common", "store-registration"}  # modules the flavours import
    assert flavours == {p.stem for p in (NIX_LIBRARY / "flavours").glob("*.nix")} - shared
