"""Processes nxc started, recognised by a marker in their command line.

A pid alone is not proof: after a reboot or a long time the number may belong to someone
else. Every process a flavour launches carries the deployment's random marker in its
arguments (a path or a name), and nothing here signals a pid whose ``/proc/<pid>/cmdline``
lacks it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

PROC = Path("/proc")


def command_line(pid: int) -> list[str] | None:
    """The arguments of a live process, or None if there is no such (non-zombie) process."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:  # zombies and kernel threads have an empty command line
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def is_ours(pid: int | None, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line contains ``marker``."""
    if not pid or pid <= 0 or not marker:
        return False
    argv = command_line(pid)
    return argv is not None and any(marker in arg for arg in argv)


def find_marked(marker: str) -> list[int]:
    """Every live process whose command line contains ``marker``."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and is_ours(int(entry.name), marker):
            found.append(int(entry.name))
    return sorted(found)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def terminate(pids: list[int], marker: str, grace: float = 5.0) -> list[int]:
    """Stop those of ``pids`` that are ours: SIGTERM, then SIGKILL after ``grace`` seconds.

    Returns the pids that were signalled. Pids that are gone or not ours are left alone.
    """
    ours = [pid for pid in dict.fromkeys(pids) if is_ours(pid, marker)]
    if grace > 0:
        for pid in ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            for pid in ours:
                _reap(pid)
            if not any(is_ours(pid, marker) for pid in ours):
                for pid in ours:
                    _reap(pid)
                return ours
            time.sleep(0.05)
    for pid in ours:
        if is_ours(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(is_ours(pid, marker) for pid in ours):
        for pid in ours:
            _reap(pid)
        time.sleep(0.05)
    for pid in ours:  # a child of ours that just died is a zombie until collected
        _reap(pid)
    return ours
