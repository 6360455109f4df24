"""The CLI's global behaviour, through a real subprocess of the installed entry point."""

import subprocess
import sys

from nxc import __version__


def run_nxc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args], capture_output=True, text=True, timeout=60
    )


def test_version_prints_package_version():
    result = run_nxc("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"nxc {__version__}"


def test_unknown_command_is_a_usage_error():
    result = run_nxc("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr
