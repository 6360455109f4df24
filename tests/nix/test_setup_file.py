"""nxc/nix/setup.nix evaluated by the real Nix: which variant a setup.toml selects."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.nix.conftest import NIX_LIBRARY, nix_environment

pytestmark = pytest.mark.nix


def evaluate(setup: str, variant: str | None = None) -> dict:
    """``{ selected; params; }`` of setup.nix for a setup.toml text (and a ``-s`` variant)."""
    overrides = json.dumps({"variant": variant})
    expression = (
        f"let s = import {NIX_LIBRARY / 'setup.nix'} {{ setup = builtins.fromTOML ''{setup}''; "
        f"overrides = builtins.fromJSON ''{overrides}''; }}; "
        "in { selected = s.project.selected; params = s.params; }"
    )
    result = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "--expr", expression],
        capture_output=True, text=True, env=nix_environment(), check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


TOML = """
[project]
selected = ""
[params]
n = 1
[big.params]
n = 8
[build.hello]
src = "/tmp/hello"
"""


def test_an_empty_selected_names_no_variant_and_build_is_no_variant(requires_nix):
    assert evaluate(TOML) == {"selected": "", "params": {"n": 1}}
    assert evaluate(TOML, "big") == {"selected": "big", "params": {"n": 8}}


def test_build_is_not_a_variant(requires_nix):
    result = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--expr",
         f"(import {NIX_LIBRARY / 'setup.nix'} {{ setup = builtins.fromTOML ''{TOML}''; "
         "overrides = { variant = \"build\"; }; }).params"],
        capture_output=True, text=True, env=nix_environment(), check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert "setup variant 'build' is not in setup.toml (variants: big)" in result.stderr
