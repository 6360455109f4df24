"""Options of another flavour are refused naming only those given, in a grammatical line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "manifests" / "multi-docker.json"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--memory", "1G"], "--memory applies only to the vm flavour, not docker; drop it"),
        (
            ["--memory", "1G", "--cpus", "2"],
            "--memory, --cpus apply only to the vm flavour, not docker; drop them",
        ),
    ],
)
def test_vm_options_on_docker(tmp_path: Path, options: list[str], expected: str) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "start", "--manifest", str(MANIFEST), "-c", "foo", *options],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == f"nxc: error: {expected}\n"
    assert not (tmp_path / "deploy").exists()
