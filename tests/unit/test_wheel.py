"""An installed nxc works with no checkout: the wheel carries the Nix library, the flake,
templates and compositions, and ``nxc init`` uses them.

The wheel is really built (``pip wheel``, hatchling) and installed into a folder of its own,
which the ``nxc`` run from there imports instead of this checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, installed (without dependencies) into a fresh folder."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (wheel,) = work.glob("nxc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "nxc/_data/flake/flake.nix",
        "nxc/_data/flake/flake.lock",
        "nxc/_data/flake/nxc/nix/lib.nix",
        "nxc/_data/flake/templates/basic/composition.nix",
        "nxc/_data/compositions/glusterfs/composition.nix",
        "nxc/nix/lib.nix",
    ):
        assert needed in names, needed
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return target


def run_installed(target: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(target)}
    return subprocess.run(
        [sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_installed_nxc_finds_its_own_files(installed: Path, tmp_path: Path) -> None:
    script = (
        "import json, nxc, nxc.resources as r;"
        "print(json.dumps([nxc.__file__, str(r.flake_dir()), str(r.templates_dir()),"
        " str(r.compositions_dir())]))"
    )
    result = run_installed(installed, "-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    package, flake, templates, compositions = map(Path, json.loads(result.stdout))
    assert installed in package.parents  # the installed copy, not this checkout
    assert flake == installed / "nxc" / "_data" / "flake"
    assert templates == flake / "templates"  # where the flake's templates output looks
    assert (compositions / "cephfs" / "composition.nix").is_file()


def test_installed_nxc_creates_a_project_offline(installed: Path, tmp_path: Path) -> None:
    result = run_installed(installed, "-m", "nxc", "init", "-t", "basic", "project", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    project = tmp_path / "project"
    assert (project / "composition.nix").is_file()
    flake = (project / "flake.nix").read_text()
    assert f"path:{installed / 'nxc' / '_data' / 'flake'}" in flake
