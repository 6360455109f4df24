"""The fixture project of the Nix library, for any test that needs a real `nxc build`.

    project = copy_fixture_project(tmp_path / "p", testbed=Path(".../guest-build"))
    subprocess.run([..., "nxc", "build", "-f", "vm"], cwd=project, env=nix_environment())

The project is tests/fixtures/nixlib with the real library copied in as ./nxc-nix; its seam
(seam.nix) builds plain derivations, and takes the test-bed guest's kernel, initrd and
kernel_params when ``testbed`` (a folder with vmlinuz, initrd, testbed.json) is given.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "nixlib"
NIX_LIBRARY = REPO / "nxc" / "nix"
TESTBED_FILES = ("vmlinuz", "initrd", "testbed.json")


def nix_environment() -> dict[str, str]:
    """Environment for nix/nxc: offline, and /bin/busybox visible in the Nix sandbox.

    ``NXC_TEST_NIX_ONLINE=1`` (set by ``scripts/test-nixos.sh``) keeps Nix online, for the
    ``nixos`` tests that fetch nixpkgs and its binary cache.
    """
    env = dict(os.environ)
    if env.get("NXC_TEST_NIX_ONLINE") != "1":
        env["NXC_NIX_OFFLINE"] = "1"
    env["NIX_CONFIG"] = "extra-sandbox-paths = /bin/busybox"
    return env


def copy_fixture_project(dest: Path, testbed: Path | None = None) -> Path:
    """Create the fixture project at ``dest`` (must not exist); return ``dest``."""
    shutil.copytree(FIXTURE, dest)
    shutil.copytree(NIX_LIBRARY, dest / "nxc-nix")
    if testbed is not None:
        (dest / "testbed").mkdir()
        for name in TESTBED_FILES:
            if (testbed / name).exists():
                shutil.copyfile(testbed / name, dest / "testbed" / name)
    return dest
