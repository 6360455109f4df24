"""The CLI's global behaviour, through a real subprocess of the installed entry point."""

import subprocess
import sys

import pytest

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


def test_unexpected_file_system_error_is_one_line(monkeypatch, capsys):
    """An OSError nxc did not anticipate gives one line and exit 1; --debug adds the traceback.

    The error is injected: the tests run as root, which file permissions do not stop, so a
    real PermissionError cannot be produced here.
    """
    from nxc import project
    from nxc.cli import main

    def broken(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/srv/project/deploy")

    monkeypatch.setattr(project, "find_project", broken)
    with pytest.raises(SystemExit) as exit_info:
        main(["status"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        "nxc: error: Permission denied (/srv/project/deploy); rerun with --debug for details\n"
    )
    with pytest.raises(SystemExit):
        main(["--debug", "status"])
    assert "Traceback" in capsys.readouterr().err


HEAVY_MODULES = ("asyncssh", "docker", "execo", "rich", "libtmux", "ruamel", "yaml")


@pytest.mark.parametrize("argv", [["--help"], ["start", "--help"], ["status"]])
def test_cli_start_up_imports_no_heavy_module(tmp_path, argv) -> None:
    """Start-up stays fast: the libraries of a command are imported by the command itself."""
    probe = (
        "import sys\n"
        "from nxc.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = {HEAVY_MODULES!r}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr
