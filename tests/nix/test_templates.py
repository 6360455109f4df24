"""`nxc init` from the shipped templates, and each template evaluated as far as Nix can go here.

Without network the evaluation stops where nixpkgs is needed: `nxc check` must say so clearly.
The `nixos` test builds a template for real where Nix can fetch nixpkgs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import REPO, run_nxc

TEMPLATES = ["basic", "nfs", "multi-compositions", "setup", "execo"]


def test_list_names_every_template(tmp_path: Path):
    result = run_nxc("init", "--list", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert sorted(listed) == sorted(TEMPLATES)


def test_unknown_template(tmp_path: Path):
    result = run_nxc("init", "-t", "nope", "new", cwd=tmp_path)
    assert result.returncode == 2
    assert "-t/--template nope: no such template" in result.stderr
    assert not (tmp_path / "new").exists()


def test_init_refuses_an_existing_project(tmp_path: Path):
    (tmp_path / "flake.nix").write_text("{ }")
    result = run_nxc("init", "-t", "basic", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "flake.nix already exists" in result.stderr
    assert (tmp_path / "flake.nix").read_text() == "{ }"


def test_nxc_url_option_is_written(tmp_path: Path):
    result = run_nxc("init", "--nxc-url", "github:example/nxc", "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'nxc.url = "github:example/nxc";' in (tmp_path / "p" / "flake.nix").read_text()


def test_templates_follow_the_pinned_nixpkgs():
    lock = json.loads((REPO / "flake.lock").read_text())
    node = lock["nodes"][lock["nodes"]["root"]["inputs"]["nixpkgs"]]
    assert re.fullmatch(r"[0-9a-f]{40}", node["locked"]["rev"])
    assert node["locked"]["narHash"].startswith("sha256-")
    release = node["original"]["ref"]
    assert re.fullmatch(r"nixos-\d\d\.\d\d", release)
    assert f"github:NixOS/nixpkgs/{release}" in (REPO / "flake.nix").read_text()
    for name in TEMPLATES:
        text = (REPO / "templates" / name / "flake.nix").read_text()
        assert 'nixpkgs.follows = "nxc/nixpkgs";' in text, name
        assert 'nxc.url = "NXC_URL";' in text, name


@pytest.mark.nix
@pytest.mark.parametrize("template", TEMPLATES)
def test_init_then_check_reaches_nixpkgs(template: str, tmp_path: Path, requires_nix):
    created = run_nxc("init", "-t", template, "project", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "project"
    assert f'nxc.url = "path:{REPO}";' in (project / "flake.nix").read_text()
    assert json.loads((project / "nxc.json").read_text())["default_flavour"] == "vm"

    listed = run_nxc("build", "--list", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert any(name.endswith("::vm") for name in listed.stdout.split())

    checked = run_nxc("check", "-f", "vm", cwd=project)
    if checked.returncode != 0:  # no network: evaluation stops at nixpkgs, and says so
        assert "nixpkgs is unreachable" in checked.stderr, checked.stdout + checked.stderr
        assert "Traceback" not in checked.stderr
        output = next(n for n in listed.stdout.split() if n.endswith("::vm"))
        built = run_nxc("build", "-C", output, "--dry-run", cwd=project)
        assert built.returncode == 1
        assert "nixpkgs is unreachable" in built.stderr, built.stderr
        assert "full log:" in built.stderr


@pytest.mark.nix
@pytest.mark.nixos
def test_basic_template_builds_for_vm(tmp_path: Path, requires_nix):
    """Needs Nix with network access to nixpkgs (a full NixOS build)."""
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    result = run_nxc("build", "-f", "vm", cwd=tmp_path / "p", timeout=3 * 3600)
    assert result.returncode == 0, result.stderr
    manifest = load(tmp_path / "p" / "build" / "composition::vm" / "manifest.json")
    assert Path(manifest.compositions[0].artefacts.kernel).is_file()


@pytest.mark.nix
@pytest.mark.nixos
def test_nfs_template_is_the_baseline_nxc_bench_measures(tmp_path: Path, requires_nix):
    """The tutorial's first part, as a user types it: the NFS template on 2 clients, its test
    script, then a small fio sweep on the NFS mount and each client's local disk. Needs Nix
    with network access to nixpkgs, and KVM or patience (three NixOS VMs)."""
    assert run_nxc("init", "-t", "nfs", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    built = run_nxc("build", "-f", "vm", cwd=project, timeout=3 * 3600)
    assert built.returncode == 0, built.stderr
    started = run_nxc("start", "-r", "client=2", cwd=project, timeout=1800)
    assert started.returncode == 0, started.stderr
    try:
        checked = run_nxc("driver", "-t", cwd=project, timeout=1800)
        assert checked.returncode == 0, checked.stderr
        swept = run_nxc(
            "bench", "fio", "--dir", "/data/{host}", "--sizes", "64k", "--jobs", "1",
            "--clients", "1,2", "--size", "16M", "--repeat", "1", "--label", "nfs",
            cwd=project, timeout=1800,
        )  # fmt: skip
        assert swept.returncode == 0, swept.stderr
    finally:
        stopped = run_nxc("stop", cwd=project, timeout=600)
    assert stopped.returncode == 0, stopped.stderr
    results = json.loads((project / "artifact" / "bench" / "fio-composition-vm.json").read_text())
    assert results, "the sweep recorded its points"
    assert (project / "artifact" / "bench" / "fio-composition-vm.md").is_file()


def test_init_never_overwrites_files(tmp_path: Path):
    (tmp_path / "composition.nix").write_text("mine")
    result = run_nxc("init", "-t", "basic", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "would overwrite composition.nix" in result.stderr
    assert (tmp_path / "composition.nix").read_text() == "mine"
    assert not (tmp_path / "flake.nix").exists()


def test_init_into_a_file_is_one_clear_line(tmp_path: Path):
    (tmp_path / "notes").write_text("mine")
    result = run_nxc("init", "-t", "basic", "notes", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"nxc: error: {tmp_path / 'notes'} is a file, not a folder; "
        "give the folder of the new project\n"
    )
    assert (tmp_path / "notes").read_text() == "mine"


def test_init_below_a_file_is_one_clear_line(tmp_path: Path):
    (tmp_path / "notes").write_text("mine")
    result = run_nxc("init", "-t", "basic", "notes/project", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"nxc: error: {tmp_path / 'notes' / 'project'}: cannot create")
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
