"""Pure-Python parts of the Nix plumbing: version parsing, error condensing, output choice."""

import pytest

from nxc.build import choose_output, installable, parse_param, setup_overrides
from nxc.errors import ProjectError
from nxc.nix_cli import meaningful_error_lines, nxc_message, parse_version

OUTPUTS = ["composition::docker", "composition::vm"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nix (Nix) 2.8.0\n", (2, 8, 0)),
        ("nix (Nix) 2.24.10pre20241201_dirty", (2, 24, 10)),
        ("nix (Nix) 2.3", (2, 3, 0)),
    ],
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


def test_error_lines_drop_warnings_and_trace():
    stderr = (
        "warning: Git tree is dirty\n"
        "building '/nix/store/x.drv'...\n"
        "error: attribute 'nope' missing\n"
        "\n"
        "       at /nix/store/abc-source/composition.nix:3:5:\n"
        "       … while evaluating the attribute 'roles'\n"
        "(use '--show-trace' to show detailed location information)\n"
    )
    lines = meaningful_error_lines(stderr)
    assert lines == [
        "error: attribute 'nope' missing",
        "       at /nix/store/abc-source/composition.nix:3:5:",
    ]


def test_nxc_message_is_found_in_library_throws():
    lines = ["error: nxc: role 'a' of composition 'c' is not a NixOS module"]
    assert nxc_message(lines) == "role 'a' of composition 'c' is not a NixOS module"
    assert nxc_message(["error: something else"]) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n=4", ("n", 4)),
        ("ratio=0.5", ("ratio", 0.5)),
        ("on=true", ("on", True)),
        ("name=a=b", ("name", "a=b")),
        ("empty=", ("empty", "")),
    ],
)
def test_parse_param(text, expected):
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["noequal", "=3", "9x=1"])
def test_parse_param_rejects(text):
    with pytest.raises(ProjectError, match="KEY=VALUE"):
        parse_param(text)


def test_setup_overrides_only_when_asked():
    assert setup_overrides(None, []) == {}
    assert '"variant": "big"' in setup_overrides("big", ["n=2"])["NXC_SETUP_OVERRIDES"]


def test_choose_output():
    assert choose_output(OUTPUTS, "vm", None) == "composition::vm"
    assert choose_output(OUTPUTS, None, "composition::docker") == "composition::docker"
    with pytest.raises(ProjectError, match="available: composition::docker, composition::vm"):
        choose_output(OUTPUTS, "g5k-image", None)
    with pytest.raises(ProjectError, match="no output 'other::vm'"):
        choose_output(OUTPUTS, None, "other::vm")


def test_choose_output_among_compositions():
    outputs = ["::vm", "a::vm", "b::vm"]
    with pytest.raises(ProjectError, match="-C COMPOSITION::FLAVOUR"):
        choose_output(outputs, "vm", None)
    assert choose_output(outputs, "vm", None, default_composition="b") == "b::vm"


def test_installable_quotes_output_names():
    ref = installable(__import__("pathlib").Path("/p"), "x86_64-linux", "::vm", "nxc", "roles")
    assert ref == 'path:/p#packages.x86_64-linux."::vm".nxc.roles'


def test_error_lines_of_recent_nix_keep_the_final_message():
    stderr = (
        "error:\n"
        "       … while calling the 'derivationStrict' builtin\n"
        "         at /builtin/derivation.nix:9:12: (source not available)\n"
        "\n"
        "       … while evaluating derivation 'composition-vm'\n"
        "\n"
        "       error: nxc: role 'db' of composition 'c' is not a NixOS module\n"
    )
    lines = meaningful_error_lines(stderr)
    assert lines == ["       error: nxc: role 'db' of composition 'c' is not a NixOS module"]
    assert nxc_message(stderr.splitlines()) == "role 'db' of composition 'c' is not a NixOS module"
