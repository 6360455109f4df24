"""Every template and bundled composition built for every flavour, and each template's test
script run on VMs, with real NixOS.

All `nixos`-marked: they need Nix with network access to nixpkgs and its binary cache, and
KVM for the VM runs (hosted CI runs them through scripts/test-nixos.sh). By hand, for one case:
``nxc init -t basic p && cd p && nxc build -f g5k-ramdisk`` and ``nxc build -f vm && nxc start -t``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nxc.flavours.names import FLAVOUR_NAMES
from tests.nix.conftest import REPO, run_nxc

BUILD_HOURS = 3 * 3600
# pytest-timeout's 600 s default (pyproject.toml) would end a build before its own timeout
pytestmark = [pytest.mark.nix, pytest.mark.nixos, pytest.mark.timeout(BUILD_HOURS + 3600)]

TEMPLATES = ["basic", "nfs", "multi-compositions", "setup", "execo"]
COMPOSITIONS = ["glusterfs", "cephfs", "beegfs"]
"""The bundled compositions (BeeGFS with its own package, compositions/beegfs)."""


def _template(tmp_path: Path, name: str) -> Path:
    result = run_nxc("init", "-t", name, "--nxc-url", f"path:{REPO}", "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "p"


def _composition(tmp_path: Path, name: str) -> Path:
    project = tmp_path / name
    shutil.copytree(REPO / "compositions" / name, project)
    flake = project / "flake.nix"
    flake.write_text(flake.read_text().replace("NXC_URL", f"path:{REPO}"))
    return project


def _outputs(project: Path, flavour: str) -> list[str]:
    listed = run_nxc("build", "--list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    return [name for name in listed.stdout.split() if name.endswith(f"::{flavour}")]


def _build_every_output(project: Path, flavour: str) -> None:
    outputs = _outputs(project, flavour)
    assert outputs, f"no output for {flavour}"
    for output in outputs:
        built = run_nxc("build", "-C", output, cwd=project, timeout=BUILD_HOURS)
        assert built.returncode == 0, built.stderr
        manifest = json.loads((project / "build" / output / "manifest.json").read_text())
        assert manifest["flavour"] == flavour


@pytest.mark.parametrize("flavour", FLAVOUR_NAMES)
@pytest.mark.parametrize("template", TEMPLATES)
def test_template_builds(tmp_path: Path, requires_nix, template: str, flavour: str):
    _build_every_output(_template(tmp_path, template), flavour)


@pytest.mark.parametrize("flavour", FLAVOUR_NAMES)
@pytest.mark.parametrize("composition", COMPOSITIONS)
def test_bundled_composition_builds(tmp_path: Path, requires_nix, composition: str, flavour: str):
    _build_every_output(_composition(tmp_path, composition), flavour)


@pytest.mark.vm
@pytest.mark.parametrize("template", TEMPLATES)
def test_template_test_script_passes_on_vms(tmp_path: Path, requires_nix, template: str):
    """Boots the template's nodes on QEMU and runs its test script (nxc start -t stops them)."""
    project = _template(tmp_path, template)
    for output in _outputs(project, "vm"):
        composition = output.split("::")[0]
        if not composition:
            continue  # the all-in-one output of several compositions: started one by one
        built = run_nxc("build", "-C", output, cwd=project, timeout=BUILD_HOURS)
        assert built.returncode == 0, built.stderr
        report = tmp_path / f"{composition}.xml"
        started = run_nxc(
            "start", "-f", "vm", "-c", composition, "-t", "--junit-xml", str(report),
            cwd=project, timeout=3600,
        )  # fmt: skip
        assert started.returncode == 0, started.stdout + started.stderr
        assert 'failures="0"' in report.read_text()
