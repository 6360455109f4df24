"""Library errors name options in the library's terms; the CLI prints its flags instead."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nxc.cli.flags import FLAGS
from nxc.errors import InputError, NodeTimeoutError
from nxc.flavours import get_flavour
from nxc.flavours.g5k.options import KexecOptions


def test_a_flavour_says_its_option_name_and_the_cli_its_flag():
    with pytest.raises(InputError) as error:
        get_flavour("vm", accel="xen")
    assert str(error.value).startswith("accel 'xen' is unknown")
    assert error.value.render(FLAGS).startswith("--accel 'xen' is unknown")


def test_every_named_option_is_rendered_and_other_braces_stay():
    error = NodeTimeoutError.naming(
        "raise {timeout} or {retries}; {not_an_option} stays", "timeout", "retries", missing=["a"]
    )
    assert str(error) == "raise timeout or retries; {not_an_option} stays"
    assert error.render(FLAGS) == "raise --timeout or --retries; {not_an_option} stays"
    assert error.missing == ["a"]
    assert error.render({}) == str(error)  # a flag the CLI does not know: the library's name


def test_a_plain_error_renders_as_its_text():
    assert InputError("just text {timeout}").render(FLAGS) == "just text {timeout}"


def test_every_option_the_library_names_has_a_flag():
    with pytest.raises(InputError) as error:
        KexecOptions(retries=-1)
    assert set(error.value.options) <= set(FLAGS)


def test_the_command_line_shows_the_flag(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "init", "-t", "nope"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "nxc: error: -t/--template nope: no such template" in result.stderr
