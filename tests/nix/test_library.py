"""The Nix library evaluated and built by real Nix, offline, on the fixture flake.

nixpkgs cannot be reached here, so the seam is filled by tests/fixtures/nixlib/seam.nix;
everything else (naming, compositions, roles, setup, manifest) is the real library.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import REPO, copy_fixture_project, nix_environment, run_nxc

pytestmark = pytest.mark.nix

NIX_FLAGS = [
    "--extra-experimental-features",
    "nix-command flakes",
    "--option",
    "substituters",
    "",
    "--option",
    "flake-registry",
    "",
]


def _nix_files() -> list[Path]:
    skipped = {".git", ".venv", "build", "node_modules"}
    return sorted(
        p for p in REPO.rglob("*.nix") if not skipped.intersection(p.relative_to(REPO).parts)
    )


def test_every_nix_file_parses(requires_nix):
    files = _nix_files()
    assert REPO / "nxc" / "nix" / "compose.nix" in files
    failures = []
    for path in files:
        result = subprocess.run(
            ["nix-instantiate", "--parse", str(path)], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            failures.append(f"{path}: {result.stderr.strip()}")
    assert not failures, "\n".join(failures)


def test_fixture_flake_evaluates_to_one_output_per_flavour(fixture_project):
    extra = ["--option", "build-users-group", ""] if os.geteuid() == 0 else []
    result = subprocess.run(
        [
            "nix",
            "eval",
            "--json",
            f"path:{fixture_project}#packages.x86_64-linux",
            "--apply",
            "builtins.attrNames",
            *NIX_FLAGS,
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=nix_environment(),
    )
    assert result.returncode == 0, result.stderr
    flavours = json.loads((REPO / "nxc" / "nix" / "flavours.json").read_text())
    assert json.loads(result.stdout) == sorted(f"composition::{f}" for f in flavours)


def test_build_vm_gives_valid_manifest_and_gc_root(fixture_project):
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    link = fixture_project / "build" / "composition::vm"
    assert link.is_symlink() and os.readlink(link).startswith("/nix/store/")
    assert (fixture_project / "build" / "composition::vm.log").is_file()
    manifest = load(link / "manifest.json")
    assert manifest.flavour == "vm"
    composition = manifest.compositions[0]
    roles = {role.name: role for role in composition.roles}
    assert sorted(roles) == ["client", "server"]
    assert roles["client"].default_count == 2  # rolesDistribution from setup.toml params
    assert roles["server"].default_count == 1
    assert Path(roles["server"].system, "role").read_text().strip() == "server serving 10 files"
    assert "client.succeed" in composition.test_script
    assert Path(composition.artefacts.kernel).is_file()
    roots = subprocess.run(
        ["nix-store", "--gc", "--print-roots"], capture_output=True, text=True, timeout=120
    ).stdout
    assert str(link) in roots


def test_default_flavour_comes_from_nxc_json(fixture_project):
    (fixture_project / "nxc.json").write_text('{"default_flavour": "docker"}')
    result = run_nxc("build", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    manifest = load(fixture_project / "build" / "composition::docker" / "manifest.json")
    assert manifest.flavour == "docker"
    assert set(manifest.compositions[0].artefacts.containers) == {"client", "server"}


def test_setup_variant_and_parameters_reach_the_evaluation(fixture_project):
    setup_before = (fixture_project / "setup.toml").read_text()
    result = run_nxc("build", "-f", "vm", "-s", "big", "-p", "files=3", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    manifest = load(fixture_project / "build" / "composition::vm" / "manifest.json")
    roles = {role.name: role for role in manifest.compositions[0].roles}
    assert roles["client"].default_count == 8
    assert Path(roles["server"].system, "role").read_text().strip() == "server serving 3 files"
    assert (fixture_project / "setup.toml").read_text() == setup_before


def test_unknown_setup_variant(fixture_project):
    result = run_nxc("build", "-f", "vm", "-s", "huge", cwd=fixture_project)
    assert result.returncode == 2
    assert "setup variant 'huge'" in result.stderr and "big" in result.stderr
    assert "Traceback" not in result.stderr


def test_multi_compositions_outputs_and_all_in_one(fixture_project):
    (fixture_project / "compositions.nix").write_text(
        "{ alpha = import ./composition.nix; beta = { roles.solo = { }; }; }"
    )
    listed = run_nxc("build", "--list", cwd=fixture_project)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert {"alpha::vm", "beta::vm", "::vm", "::g5k-ramdisk"} <= set(names)
    assert "::docker" not in names  # docker is not an all-in-one flavour
    result = run_nxc("build", "-C", "::vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    manifest = load(fixture_project / "build" / "::vm" / "manifest.json")
    assert sorted(c.name for c in manifest.compositions) == ["alpha", "beta"]


def test_dry_run_builds_nothing(fixture_project):
    result = run_nxc("build", "-f", "vm", "--dry-run", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    assert not (fixture_project / "build" / "composition::vm").exists()
    assert "nothing built" in result.stderr


def test_check_passes_on_a_good_project(fixture_project):
    result = run_nxc("check", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok      composition::vm (2 roles)" in result.stdout


def test_check_names_the_broken_role(fixture_project):
    path = fixture_project / "composition.nix"
    path.write_text(
        path.read_text().replace(
            'client = {\n      environment.etc.role.text = "client";',
            "client = { pkgs, ... }: {\n      environment.etc.role.text = pkgs.noSuchPackage;",
        )
    )
    result = run_nxc("check", "composition::vm", cwd=fixture_project)
    assert result.returncode == 1
    assert "role composition.client" in result.stdout
    assert "noSuchPackage" in result.stdout
    assert "role composition.server" not in result.stdout


def test_build_error_is_condensed_with_log_path(fixture_project):
    (fixture_project / "composition.nix").write_text(
        "{ ... }: { roles.a = { pkgs, ... }: { x = pkgs.missingThing; }; }"
    )
    # the fixture seam only looks at environment.etc/systemPackages; force `x` through etc
    (fixture_project / "composition.nix").write_text(
        "{ ... }: { roles.a = { pkgs, ... }: { environment.etc.role.text = pkgs.missing; }; }"
    )
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 1
    error = result.stderr.split("nxc: error:", 1)[1]
    assert "attribute 'missing' missing" in error
    assert "full log:" in error and "composition::vm.log" in error
    assert len(error.strip().splitlines()) <= 12


def test_testbed_artefacts_fill_the_seam(tmp_path, requires_nix):
    testbed = tmp_path / "guest"
    testbed.mkdir()
    (testbed / "vmlinuz").write_bytes(b"kernel bytes")
    (testbed / "initrd").write_bytes(b"initrd bytes")
    (testbed / "testbed.json").write_text('{"kernel_params": "console=ttyS0 panic=-1"}')
    fixture_project = copy_fixture_project(tmp_path / "project", testbed=testbed)
    composition = fixture_project / "composition.nix"
    composition.write_text(
        composition.read_text().replace(
            'environment.etc.role.text = "client";',
            'environment.etc.role.text = "client";\n      testbed.start = "touch /tmp/started";',
        )
    )
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    manifest = load(fixture_project / "build" / "composition::vm" / "manifest.json")
    composition_manifest = manifest.compositions[0]
    artefacts = composition_manifest.artefacts
    assert Path(artefacts.kernel).read_bytes() == b"kernel bytes"
    assert Path(artefacts.initrd).read_bytes() == b"initrd bytes"
    assert artefacts.cmdline == "console=ttyS0 panic=-1"
    client = next(r for r in composition_manifest.roles if r.name == "client")
    start = Path(client.system, "bin", "nxc-role-start")
    assert os.access(start, os.X_OK)
    assert start.read_text().splitlines() == [
        "#!/bin/sh",
        "set -e",
        'printf "%s\\n" "client" > /tmp/nxc-role',
        "touch /tmp/started",
    ]
    assert subprocess.run(["sh", "-n", str(start)], timeout=10).returncode == 0


def test_check_sees_setup_variant(fixture_project):
    composition = fixture_project / "composition.nix"
    composition.write_text(
        composition.read_text().replace(
            'client = {\n      environment.etc.role.text = "client";',
            "client = {\n      environment.etc.role.text = "
            'if setup.params.clients > 4 then throw "too many clients" else "client";',
        )
    )
    assert run_nxc("check", "-f", "vm", cwd=fixture_project).returncode == 0
    result = run_nxc("check", "-f", "vm", "-s", "big", cwd=fixture_project)
    assert result.returncode == 1
    assert "role composition.client" in result.stdout and "too many clients" in result.stdout


def test_untracked_files_of_a_git_project_are_seen(fixture_project):
    """nxc names projects as path: flakes, so git-untracked files still count."""
    git = ["git", "-C", str(fixture_project), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True, timeout=30)
    subprocess.run([*git, "add", "flake.nix"], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "only the flake"], check=True, timeout=30)
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    assert (fixture_project / "build" / "composition::vm" / "manifest.json").is_file()


def test_top_level_flake_is_locked_and_exposes_the_library(requires_nix, tmp_path):
    """flake.lock matches flake.nix (no re-lock, which would need network); lib and templates
    evaluate without nixpkgs."""
    extra = ["--option", "build-users-group", ""] if os.geteuid() == 0 else []

    def nix_eval(attr: str) -> object:
        result = subprocess.run(
            [
                "nix",
                "eval",
                "--json",
                f"path:{REPO}#{attr}",
                "--apply",
                "builtins.attrNames",
                *NIX_FLAGS,
                "--no-update-lock-file",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env=nix_environment(),
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    flavours = json.loads((REPO / "nxc" / "nix" / "flavours.json").read_text())
    assert nix_eval("lib.flavours") == sorted(flavours)
    assert set(nix_eval("lib")) >= {"compose", "flavours", "nixpkgs", "makeMany"}
    assert nix_eval("templates") == sorted(
        ["basic", "default", "execo", "multi-compositions", "nfs", "setup"]
    )
