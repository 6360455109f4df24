"""Output collection of the SSH transport: lines to callbacks, process-group marker removed."""

from __future__ import annotations

import pytest

from nxc.transport.remote_shell import PROCESS_GROUP_MARKER, command_line, wrap_command
from nxc.transport.ssh import _OutputCollector


def collect(chunks: list[str], marker: bool) -> tuple[_OutputCollector, list[str]]:
    lines: list[str] = []
    collector = _OutputCollector("h", "stderr", lambda _h, _s, line: lines.append(line), marker)
    for chunk in chunks:
        collector.feed(chunk)
    collector.finish()
    return collector, lines


@pytest.mark.parametrize(
    "chunks",
    [
        [f"{PROCESS_GROUP_MARKER}4242\nerr1\nerr2"],
        [PROCESS_GROUP_MARKER[:5], f"{PROCESS_GROUP_MARKER[5:]}42", "42\ner", "r1\nerr2"],
    ],
)
def test_marker_is_parsed_and_removed_even_when_split(chunks: list[str]) -> None:
    collector, lines = collect(chunks, marker=True)
    assert collector.process_group == 4242
    assert collector.text == "err1\nerr2"
    assert lines == ["err1", "err2"]


def test_shell_noise_before_the_marker_is_kept() -> None:
    collector, lines = collect(["mesg: ttyname failed\n", f"{PROCESS_GROUP_MARKER}7\nx\n"], True)
    assert collector.process_group == 7
    assert collector.text == "mesg: ttyname failed\nx\n"
    assert lines == ["mesg: ttyname failed", "x"]


def test_without_marker_everything_is_output() -> None:
    collector, lines = collect(["a\nb"], marker=True)
    assert collector.process_group is None
    assert collector.text == "a\nb"
    assert lines == ["a", "b"]


def test_wrapped_command_announces_then_runs_it() -> None:
    assert wrap_command("echo hi") == f"echo {PROCESS_GROUP_MARKER}$$ >&2\necho hi"
    assert command_line(["ls", "a b"]) == "ls 'a b'"
