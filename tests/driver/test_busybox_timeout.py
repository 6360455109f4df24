"""A command's timeout on a node whose ``timeout`` is busybox's (test-bed guests, small
container images): busybox kills the command with SIGTERM instead of exiting 124.

The node is this machine: a backend running each command with real ``bash`` and a ``PATH``
whose ``timeout`` is the real busybox applet (no SSH needed to see the status it gives).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nxc.driver.backend import CommandResult
from nxc.driver.logger import DriverLogger
from nxc.driver.machine import Machine
from nxc.errors import RequestedAssertionFailed


class BusyboxTimeoutBackend:
    """Runs commands here, with busybox's ``timeout`` first on ``PATH``."""

    shared_dir = None

    def __init__(self, bin_dir: Path) -> None:
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run(self, command: str, timeout: float | None) -> CommandResult:
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, env=self.env, timeout=timeout
        )
        return CommandResult(done.returncode, done.stdout, done.stderr)

    def is_running(self) -> bool:
        return True


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("needs busybox (Debian busybox or busybox-static)")
    (tmp_path / "timeout").symlink_to(busybox)
    logger = DriverLogger(stream=io.StringIO(), color=False)
    return Machine("local", BusyboxTimeoutBackend(tmp_path), logger)  # type: ignore[arg-type]


def test_busybox_timeout_is_reported_as_a_timeout(machine: Machine) -> None:
    assert machine.execute("sleep 30", timeout=1)[0] == -15
    with pytest.raises(RequestedAssertionFailed, match=r"`sleep 30` timed out after 1 s") as raised:
        machine.succeed("sleep 30", timeout=1)
    assert "on local" in str(raised.value)


def test_a_command_killed_by_sigterm_before_its_timeout_is_a_failure(machine: Machine) -> None:
    with pytest.raises(RequestedAssertionFailed, match=r"failed \(exit code -15\)"):
        machine.succeed("kill -TERM $$", timeout=60)
