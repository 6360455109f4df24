"""Bad input to nxc build/check: one clear line, the right exit code, no traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.nix.conftest import nix_environment, run_nxc


def _assert_one_clear_error(result, code: int, *needles: str) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


@pytest.mark.nix
def test_missing_flake_output_lists_available(fixture_project):
    (fixture_project / "flavours.nix").write_text('[ "vm" "g5k-image" ]')
    result = run_nxc("build", "-f", "docker", cwd=fixture_project)
    _assert_one_clear_error(
        result, 2, "no output for flavour 'docker'", "composition::g5k-image, composition::vm"
    )


@pytest.mark.nix
def test_unknown_flavour(fixture_project):
    result = run_nxc("build", "-f", "vmm", cwd=fixture_project)
    _assert_one_clear_error(result, 2, "-f/--flavour: unknown flavour 'vmm'", "vm, docker")


@pytest.mark.nix
def test_unknown_flavour_in_compose_call(fixture_project):
    (fixture_project / "flavours.nix").write_text('[ "vm" "qemu" ]')
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    _assert_one_clear_error(result, 2, "unknown flavour 'qemu'")


@pytest.mark.nix
@pytest.mark.parametrize(
    ("composition", "needles"),
    [
        ('"roles"', ("must be a function", "got a string")),
        ("{ roles = { db = 42; }; }", ("role 'db'", "is not a NixOS module", "got a int")),
        (
            "{ roles.a = { }; rolesDistribution.a = 0; }",
            ("rolesDistribution.a", "positive integer, got 0"),
        ),
    ],
    ids=["not-a-function", "role-not-a-module", "distribution-zero"],
)
def test_bad_composition_is_one_clear_error(fixture_project, composition, needles):
    (fixture_project / "composition.nix").write_text(composition)
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    _assert_one_clear_error(result, 2, *needles)


@pytest.mark.nix
def test_composition_without_roles(fixture_project):
    (fixture_project / "composition.nix").write_text('{ testScript = ""; }')
    result = run_nxc("check", cwd=fixture_project)
    assert result.returncode == 1
    assert "neither `roles` nor `nodes`" in result.stdout


def test_nix_missing_names_the_package(tmp_path: Path):
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }")
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {**nix_environment(), "PATH": str(empty_bin)}
    result = run_nxc("build", "-f", "vm", cwd=tmp_path, env=env)
    _assert_one_clear_error(result, 3, "'nix' was not found", "nix-bin")


def test_nix_too_old(tmp_path: Path):
    """A stand-in `nix` printing an old version: Nix < 2.4 cannot be installed here."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "nix"
    fake.write_text("#!/bin/sh\necho 'nix (Nix) 2.3.16'\n")
    fake.chmod(0o755)
    env = {**nix_environment(), "PATH": f"{fake_bin}{os.pathsep}{Path(sys.executable).parent}"}
    result = run_nxc("build", "-f", "vm", cwd=tmp_path, env=env)
    _assert_one_clear_error(result, 3, "Nix 2.3.16", "needs Nix >= 2.4")


def test_bad_param(tmp_path: Path):
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }")
    result = run_nxc("build", "-f", "vm", "-p", "oops", cwd=tmp_path)
    _assert_one_clear_error(result, 2, "-p 'oops': expected KEY=VALUE")


@pytest.mark.parametrize("command", ["build", "check"])
def test_unbalanced_nix_flags(tmp_path: Path, command: str):
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }")
    result = run_nxc(command, "--nix-flags", "--option cores '2", cwd=tmp_path)
    _assert_one_clear_error(result, 2, '--nix-flags "--option cores \'2": No closing quotation')


@pytest.mark.nix
def test_test_script_from_a_file(fixture_project):
    (fixture_project / "test.py").write_text("a.succeed('true')\n")
    (fixture_project / "composition.nix").write_text("{ roles.a = { }; testScript = ./test.py; }")
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    manifest = (fixture_project / "build" / "composition::vm" / "manifest.json").read_text()
    assert "a.succeed('true')" in manifest
