"""Per-role kernels on real NixOS (nixpkgs 25.05) VMs, where Nix has network.

By hand, in a project made by `nxc init -t basic` whose composition.nix is COMPOSITION below:

    nxc build -f vm        # the manifest's artefacts.role_boot names `big` only
    nxc start -f vm
    nxc run -- uname -r    # big runs Linux 6.6, small the default kernel (6.12 in 25.05)
    nxc stop

Run with `NXC_TEST_NIX_ONLINE=1 pytest -m nixos tests/nix/test_role_kernels_nixos.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import run_nxc

BUILD_TIMEOUT = 3 * 3600
# pytest-timeout's 600 s default (pyproject.toml) would end a build before its own timeout
pytestmark = [pytest.mark.nix, pytest.mark.nixos, pytest.mark.timeout(BUILD_TIMEOUT + 3600)]

# pkgs/top-level/linux-kernels.nix (25.05): packages.linux_6_6 (linuxPackages_6_6); linux_default is 6.12
COMPOSITION = """{ pkgs, ... }:
{
  roles = {
    big = { boot.kernelPackages = pkgs.linuxPackages_6_6; };
    small = { };
  };
}
"""


def kernel_release(project: Path, role: str) -> str:
    """``uname -r`` on the node of ``role`` (nxc run's last word)."""
    result = run_nxc("run", "-r", role, "--", "uname", "-r", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.split()[-1]


def test_a_role_with_its_own_kernel_boots_it(tmp_path: Path, requires_nix):
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    (project / "composition.nix").write_text(COMPOSITION)
    built = run_nxc("build", "-f", "vm", cwd=project, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stderr
    composition = load(project / "build" / "composition::vm" / "manifest.json").compositions[0]
    role_boot = composition.artefacts.role_boot
    assert role_boot is not None and set(role_boot) == {"big"}
    assert "linux-6.6" in role_boot["big"].kernel
    assert composition.boot_files("small")[0] == composition.artefacts.kernel
    started = run_nxc("start", "-f", "vm", cwd=project, timeout=3600)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        big, default = kernel_release(project, "big"), kernel_release(project, "small")
        assert big.startswith("6.6.") and big != default, (big, default)
    finally:
        run_nxc("stop", cwd=project)
