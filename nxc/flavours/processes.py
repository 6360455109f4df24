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
KILL_WAIT = 5.0
"""Seconds to wait for killed processes to end and be collected."""


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


def _finished(pid: int, marker: str) -> bool:
    """Whether ``pid`` has ended: collected if it is our own child, else no longer ours.

    A dying process loses its command line before it becomes a zombie, so for a child of
    ours only its collection proves it is over (and leaves no zombie behind).
    """
    try:
        collected, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child: its own parent collects it
        return not is_ours(pid, marker)
    return collected == pid


def _wait_finished(pids: list[int], marker: str, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for every one of ``pids`` to end; whether they all did."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while True:
        pending = {pid for pid in pending if not _finished(pid, marker)}
        if not pending or time.monotonic() >= deadline:
            return not pending
        time.sleep(0.05)


def terminate(pids: list[int], marker: str, grace: float = 5.0) -> list[int]:
    """Stop those of ``pids`` that are ours: SIGTERM, then SIGKILL after ``grace`` seconds.

    Returns the pids that were signalled. Pids that are gone or not ours are left alone.
    """
    ours = [pid for pid in dict.fromkeys(pids) if is_ours(pid, marker)]
    if grace > 0:
        for pid in ours:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if _wait_finished(ours, marker, grace):
            return ours
    for pid in ours:
        if is_ours(pid, marker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    _wait_finished(ours, marker, KILL_WAIT)
    return ours
