"""Bounded reads of user files: machine files (``-m``, ``-W``), ``nxc.json`` and the helper.

Each read of a FIFO runs in a child process stopped after 60 s, since the code before the
guard blocked on it for ever; the reads of ``/dev/zero`` run in a child limited to 1 GiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.errors import MachineFileError
from nxc.platforms import read_machine_file
from nxc.userfiles import MAX_BYTES, UserFileRefused, read_text

CHILD = """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from pathlib import Path
from nxc.errors import NxcError
from nxc.platforms import read_machine_file, wait_for_machine_file
from nxc.project import load_config
call = {"read": read_machine_file, "wait": lambda p: wait_for_machine_file(p, 30),
        "nxc.json": load_config}[sys.argv[1]]
try:
    call(Path(sys.argv[2]))
except NxcError as error:
    print(type(error).__name__, error)
"""


def _in_child(call: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, call, str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("call", ["read", "wait"])
def test_a_fifo_machine_file_is_refused(fifo: Path, call: str) -> None:
    done = _in_child(call, fifo)
    assert done.stderr == ""
    assert done.stdout == (
        f"MachineFileError machine file {fifo} cannot be read: "
        "is a FIFO (named pipe), not a regular file\n"
    )


def test_dev_zero_as_machine_file_is_refused() -> None:
    done = _in_child("read", Path("/dev/zero"))
    assert done.stderr == ""
    assert "is a character device, not a regular file" in done.stdout


def test_a_machine_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "machines"
    path.write_text("host-1\n" * (MAX_BYTES // 7 + 1))
    with pytest.raises(MachineFileError, match="is larger than 1 MiB"):
        read_machine_file(path)


def test_a_fifo_nxc_json_is_refused(fifo: Path) -> None:
    done = _in_child("nxc.json", fifo)
    assert done.stderr == ""
    assert done.stdout == (
        f"ProjectError {fifo}: cannot read it (is a FIFO (named pipe), not a regular file); "
        "fix or remove it\n"
    )


def test_read_text_reads_up_to_the_limit_and_keeps_open_errors(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"x" * 10)
    assert read_text(path, limit=10) == "x" * 10
    with pytest.raises(UserFileRefused, match=r"^is larger than 9 bytes"):
        read_text(path, limit=9)
    with pytest.raises(IsADirectoryError):
        read_text(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "absent")
