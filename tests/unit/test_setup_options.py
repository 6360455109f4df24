"""setup.toml's ``[options]`` read by :mod:`nxc.setup_options` from real files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nxc.errors import ProjectError
from nxc.setup_options import SetupOptions, read_setup_options, split_kernel_params

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nxc-setup-options"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(FIXTURE / "setup.toml", tmp_path / "setup.toml")
    return tmp_path


def write(project: Path, text: str) -> None:
    (project / "setup.toml").write_text(text)


def test_top_level_options(project):
    options = read_setup_options(project)
    assert options.variant is None
    assert options.nix_flags == ("--option", "cores", "3")
    assert options.kernel_params == ("nxc_fixture_top=1", "quiet")


def test_variant_options_replace_the_top_level_ones(project):
    options = read_setup_options(project, "fast")
    assert options.variant == "fast"
    assert options.nix_flags == ("--option", "cores", "5")
    assert options.kernel_params == ("nxc_fixture_variant=fast",)


def test_selected_variant_is_the_default_and_empty_means_none(project):
    text = (project / "setup.toml").read_text().replace("[project]", '[project]\nselected = "fast"')
    write(project, text)
    assert read_setup_options(project).nix_flags == ("--option", "cores", "5")
    write(project, text.replace('selected = "fast"', 'selected = ""'))
    assert read_setup_options(project).variant is None


def test_lists_other_keys_and_unknown_keys(project):
    write(
        project,
        "[options]\nnix-flags = ['--option', 'cores', '2']\nkernel-params = ['a=1 b', 'c']\n"
        "flavour = 'docker'\ncomposition-file = 'compositions/web.nix'\nfoo = 1\n"
        "[v.options]\ncomposition-flavour = 'web::vm'\nbar = true\n",
    )
    options = read_setup_options(project, "v")
    assert options.nix_flags == ("--option", "cores", "2")
    assert options.kernel_params == ("a=1", "b", "c")
    assert (options.flavour, options.composition_flavour) == ("docker", "web::vm")
    assert options.composition == "web"
    assert options.unknown == ("[options] foo", "[v.options] bar")


def test_no_setup_file_means_no_options_and_no_variant(tmp_path):
    assert read_setup_options(tmp_path) == SetupOptions()
    with pytest.raises(ProjectError, match=r"^-s big: the project has no setup.toml"):
        read_setup_options(tmp_path, "big")


@pytest.mark.parametrize(
    ("text", "variant", "message"),
    [
        ("[options]\nnix-flags = 3\n", None, r"\[options\] nix-flags must be a string or a list"),
        ("[options]\nkernel-params = [1]\n", None, r"kernel-params must be a string or a list"),
        ("[fast.options]\nflavour = ''\n", "fast", r"\[fast.options\] flavour must be a non-empty"),
        ('[options]\nnix-flags = "--option \'cores"\n', None, r"nix-flags .*No closing quotation"),
        (
            "[options]\nkernel-params = 'a=\"b'\n",
            None,
            r"kernel-params .*double quote is not closed",
        ),
        ("options = 1\n", None, r"\[options\] must be a table"),
        ("[fast]\noptions = 'x'\n", "fast", r"\[fast.options\] must be a table"),
        ("[fast.params]\na = 1\n", "slow", r"no setup variant 'slow' \(variants: fast\)"),
        ("[project]\nselected = 2\n", None, r"\[project\] selected must be a string"),
        ("[options\n", None, r"not valid TOML"),
    ],
)
def test_bad_files_are_one_line_naming_the_key(project, text, variant, message):
    write(project, text)
    with pytest.raises(ProjectError, match=message) as caught:
        read_setup_options(project, variant)
    assert "\n" not in str(caught.value)
    assert str(project / "setup.toml") in str(caught.value)


def test_kernel_params_split_like_the_kernel():
    assert split_kernel_params(' foo="a b"  quiet\tx=1 ', "-k") == ('foo="a b"', "quiet", "x=1")
    assert split_kernel_params("", "-k") == ()
