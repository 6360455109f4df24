"""Fixtures for the Nix library tests: a copy of the fixture flake, and nxc run as users run it.

The fixture flake (tests/fixtures/nixlib) uses the real library from nxc/nix with its seam
filled by plain derivations (no nixpkgs). Its builders are /bin/busybox, exposed to the Nix
sandbox through NIX_CONFIG.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nix.fixture import (  # noqa: F401  (re-exported for the tests here)
    NIX_LIBRARY,
    REPO,
    copy_fixture_project,
    nix_environment,
)


def run_nxc(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args],
        cwd=cwd,
        env=env if env is not None else nix_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def requires_nix() -> str:
    """Path of the nix program; skips when Nix is not installed."""
    program = shutil.which("nix")
    if program is None or not Path("/bin/busybox").exists():
        pytest.skip("needs nix (Debian nix-bin) and /bin/busybox (busybox-static)")
    return program


@pytest.fixture
def fixture_project(tmp_path: Path, requires_nix: str) -> Path:
    """A fresh copy of the fixture project with the library copied in as ./nxc-nix."""
    return copy_fixture_project(tmp_path / "project")
