"""setup.toml ``[options] nix-flags`` reaching the real ``nix build`` of ``nxc build``.

The fixture (tests/fixtures/nxc-setup-options) is shaped like a NixOS-Compose project; its one
role holds a file its builder wrote from ``$NIX_BUILD_CORES``, i.e. Nix's ``cores`` setting,
so the ``--option cores N`` nxc handed to Nix is visible in what Nix built.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.nix.conftest import NIX_LIBRARY, REPO, run_nxc

pytestmark = pytest.mark.nix

FIXTURE = REPO / "tests" / "fixtures" / "nxc-setup-options"
SEAM = REPO / "tests" / "fixtures" / "nixlib" / "seam.nix"


@pytest.fixture
def project(tmp_path: Path, requires_nix: str) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    shutil.copytree(NIX_LIBRARY, root / "nxc-nix")
    shutil.copyfile(SEAM, root / "seam.nix")
    return root


def built_cores(project: Path, *args: str) -> str:
    """``nxc build`` with a fresh nonce; the cores Nix gave the role's builder."""
    nonce = uuid.uuid4().int % 10**9
    result = run_nxc("build", "-p", f"nonce={nonce}", *args, cwd=project)
    assert result.returncode == 0, result.stderr
    manifest = json.loads(Path(result.stdout.strip()).read_text())
    system = Path(manifest["compositions"]["composition"]["roles"]["node"]["system"])
    (built,) = (system / "bin").glob(f"*-build-cores-{nonce}")
    return built.read_text().strip()


def test_top_level_nix_flags_reach_nix(project):
    assert built_cores(project) == "3"


def test_variant_nix_flags_replace_them(project):
    assert built_cores(project, "-s", "fast") == "5"


def test_selected_variant_is_used_without_s(project):
    setup = project / "setup.toml"
    setup.write_text(setup.read_text().replace("[project]", '[project]\nselected = "fast"'))
    assert built_cores(project) == "5"


def test_command_line_nix_flags_win(project):
    assert built_cores(project, "-s", "fast", "--nix-flags", "--option cores 2") == "2"


def test_bad_nix_flags_is_one_line(project):
    (project / "setup.toml").write_text("[options]\nnix-flags = 4\n")
    result = run_nxc("build", cwd=project)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"nxc: error: {project / 'setup.toml'}: [options] nix-flags must be a string or a list "
        'of strings, e.g. nix-flags = "..."'
    ]


def test_unknown_option_is_a_warning_and_flavour_option_chooses(project):
    (project / "setup.toml").write_text(
        '[params]\nnonce = 1\n[options]\nflavour = "docker"\nfoo = 1\n'
    )
    result = run_nxc("build", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "nxc: warning: setup.toml: [options] foo ignored" in result.stderr
    assert (project / "build" / "composition::docker").is_symlink()
