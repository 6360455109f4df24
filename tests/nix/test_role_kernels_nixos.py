"""Per-role kernels on real NixOS (nixpkgs 25.05) VMs, where Nix has network, with the
NixOS-Compose-shaped project tests/fixtures/nxc-role-kernels: role `big` sets
`boot.kernelPackages = pkgs.linuxPackages_6_6`, role `small` keeps the default kernel.

By hand, in a project made by `nxc init -t basic` with that composition.nix:

    nxc build -f vm        # the manifest's artefacts.role_boot names `big` only
    nxc start -f vm -t     # its test script: big runs Linux 6.6, small another kernel

Run with `NXC_TEST_NIX_ONLINE=1 pytest -m nixos tests/nix/test_role_kernels_nixos.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import REPO, run_nxc

BUILD_TIMEOUT = 3 * 3600
# pytest-timeout's 600 s default (pyproject.toml) would end a build before its own timeout
pytestmark = [
    pytest.mark.nix,
    pytest.mark.nixos,
    pytest.mark.vm,
    pytest.mark.timeout(BUILD_TIMEOUT + 3600),
]

PROJECT = REPO / "tests" / "fixtures" / "nxc-role-kernels"


def test_a_role_with_its_own_kernel_boots_it(tmp_path: Path, requires_nix):
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    shutil.copyfile(PROJECT / "composition.nix", project / "composition.nix")
    built = run_nxc("build", "-f", "vm", cwd=project, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stderr
    composition = load(project / "build" / "composition::vm" / "manifest.json").compositions[0]
    role_boot = composition.artefacts.role_boot
    assert role_boot is not None and set(role_boot) == {"big"}
    assert "linux-6.6" in role_boot["big"].kernel
    assert composition.boot_files("small")[0] == composition.artefacts.kernel
    try:  # -t stops the nodes after the test script; stop again should start fail midway
        started = run_nxc("start", "-f", "vm", "-t", cwd=project, timeout=3600)
        assert started.returncode == 0, started.stdout + started.stderr
    finally:
        run_nxc("stop", cwd=project)
