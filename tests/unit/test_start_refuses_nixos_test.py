"""``nxc start`` refuses the nixos-test flavour (its test runs while it builds), given with -f or
as nxc.json's default flavour, in one line and before anything is written (the real CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED = "nxc: error: flavour nixos-test has no deployment (its test runs while it builds)"


@pytest.mark.parametrize("how", ["option", "nxc.json"])
def test_start_refuses_nixos_test(tmp_path: Path, how: str) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    args = ["-f", "nixos-test"]
    if how == "nxc.json":
        (tmp_path / "nxc.json").write_text(
            '{"composition": "composition.nix", "default_flavour": "nixos-test"}'
        )
        args = []
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "start", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(EXPECTED) and result.stderr.count("\n") == 1
    assert not (tmp_path / "deploy").exists()
