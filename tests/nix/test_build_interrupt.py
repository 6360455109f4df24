"""An interrupted ``nix build`` (Ctrl-C while its log streams) leaves no Nix or builder behind.

Runs the real Nix on a one-derivation flake whose builder (/bin/busybox) prints a line and then
sleeps far longer than the test allows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from nxc.nix_cli import NixCommand
from tests.nix.fixture import nix_environment

pytestmark = pytest.mark.nix

SLEEP_MARKER = "487.25"
"""The builder's unusual sleep length: how the test recognises its processes."""

FLAKE = """{
  outputs = { self }: {
    packages.x86_64-linux.slow = derivation {
      name = "slow";
      system = "x86_64-linux";
      builder = "/bin/busybox";
      args = [ "sh" "-c" "echo nxc-build-started; /bin/busybox sleep SLEEP; echo > $out" ];
    };
  };
}
""".replace("SLEEP", SLEEP_MARKER)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture
def leftovers_killed(tmp_path):
    """Kill, after the test, any process of this test's build still running (pass or fail)."""
    yield
    for pid in processes_mentioning(SLEEP_MARKER) + processes_mentioning(str(tmp_path)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_interrupted_build_stops_nix_and_its_builder(
    tmp_path, requires_nix, monkeypatch, leftovers_killed
):
    for key, value in nix_environment().items():
        monkeypatch.setenv(key, value)
    project = tmp_path / "slow-project"
    project.mkdir()
    (project / "flake.nix").write_text(FLAKE)
    nix = NixCommand.find()
    seen: list[str] = []

    def interrupt_when_started(line: str) -> None:
        seen.append(line)
        if "nxc-build-started" in line:
            raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        nix.build(
            f"path:{project}#packages.x86_64-linux.slow",
            tmp_path / "result",
            tmp_path / "build.log",
            on_line=interrupt_when_started,
        )
    assert time.monotonic() - started < 240, "the build was waited for, not stopped"
    deadline = time.monotonic() + 15
    while processes_mentioning(SLEEP_MARKER) or processes_mentioning(str(project)):
        assert time.monotonic() < deadline, (
            f"still running after the interrupt: {processes_mentioning(SLEEP_MARKER)} "
            f"{processes_mentioning(str(project))}"
        )
        time.sleep(0.2)
    assert not (tmp_path / "result").exists()
    assert "nxc-build-started" in (tmp_path / "build.log").read_text()
