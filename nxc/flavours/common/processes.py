"""Processes and run folders nxc made, recognised before anything is signalled or removed.

A pid alone is not proof: after a reboot or a long time the number may belong to someone
else, and a record is a file a user can edit or a bug can corrupt. Every process a flavour
launches carries the deployment's random marker (:func:`new_marker`, ``nxc-`` and 12 hex
digits) as a whole component of one of its arguments (``node1:nxc-…``, ``/tmp/…/nxc-…/switch``),
and its start time is recorded at launch (:func:`identity`). Nothing here signals a pid whose
``/proc/<pid>/cmdline`` lacks the marker, whose start time differs from the recorded one, or
which belongs to another user. Run folders are ``<runtime root>/<marker>`` and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import tempfile
import time
from pathlib import Path

from nxc.errors import ExternalCommandError, UnsafeRecordError

PROC = Path("/proc")
KILL_WAIT = 5.0
"""Seconds to wait for killed processes to end and be collected."""
MARKER = re.compile(r"nxc-[0-9a-f]{12}")
"""The shape of every marker :func:`new_marker` makes; records with another are refused."""
_SEPARATORS = re.compile(r"[/:=,\s]")


def new_marker() -> str:
    """A fresh random deployment marker (``nxc-`` and 12 hex digits)."""
    return f"nxc-{secrets.token_hex(6)}"


def check_marker(marker: object, where: str) -> str:
    """``marker`` if it has the shape nxc makes; :class:`UnsafeRecordError` otherwise."""
    if not isinstance(marker, str) or not MARKER.fullmatch(marker):
        raise UnsafeRecordError(
            f"{where}: resources.marker {marker!r} is not a marker nxc makes "
            f"('nxc-' and 12 hex digits), so nxc stop touches nothing; restore the record or "
            "stop its processes by hand, then remove it with 'nxc clean --force'"
        )
    return marker


def runtime_root() -> Path:
    """nxc's own folder for sockets and run folders: ``<tmp>/nxc-<uid>`` (short paths, since
    unix socket paths are limited to 108 bytes)."""
    return Path(tempfile.gettempdir()) / f"nxc-{os.getuid()}"


def make_run_dir(marker: str) -> Path:
    """Create ``<runtime root>/<marker>`` (mode 0700); the root must be a real folder of ours."""
    root = runtime_root()
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    info = root.lstat()
    if not root.is_dir() or root.is_symlink() or info.st_uid != os.getuid():
        raise UnsafeRecordError(
            f"{root} is not a folder of yours (a link, or another user's); remove it or set "
            "TMPDIR to a private folder"
        )
    run_dir = root / check_marker(marker, "new deployment")
    run_dir.mkdir(mode=0o700)
    return run_dir


def check_run_dir(value: object, marker: str, where: str) -> Path | None:
    """The recorded run folder if nxc made it (``<runtime root>/<marker>``, or the older
    ``<tmp>/<marker>``; a real folder of this user, no link), None if it is gone already;
    :class:`UnsafeRecordError` if it is anything else."""
    allowed = (runtime_root() / marker, Path(tempfile.gettempdir()) / marker)
    if not isinstance(value, str) or Path(value) not in allowed:
        raise UnsafeRecordError(
            f"{where}: resources.run_dir {value!r} is not nxc's run folder for marker {marker} "
            f"({allowed[0]}), so nxc stop touches nothing; restore the record, or remove it "
            "with 'nxc clean --force' after stopping its processes by hand"
        )
    path = Path(value)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if path.is_symlink() or not path.is_dir() or info.st_uid != os.getuid():
        raise UnsafeRecordError(
            f"{where}: run folder {path} is a link or not a folder of yours, so nxc stop "
            "touches nothing; look at it, remove it by hand, then run 'nxc stop' again"
        )
    return path


def command_line(pid: int) -> list[str] | None:
    """The arguments of a live process, or None if there is no such (non-zombie) process."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    if not raw:  # zombies and kernel threads have an empty command line
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def identity(pid: int | None) -> str | None:
    """``<boot id>:<start time>`` of a live process (what to record at launch), else None."""
    if not pid or pid <= 0:
        return None
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        boot = (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def _owner(pid: int) -> int | None:
    try:
        return (PROC / str(pid)).stat().st_uid
    except OSError:
        return None


def carries(argv: list[str], marker: str) -> bool:
    """Whether ``marker`` is one whole ``/``, ``:``, ``=`` or ``,``-separated part of an
    argument (a mere substring, e.g. inside another word, does not count)."""
    return any(marker in _SEPARATORS.split(arg) for arg in argv)


def is_ours(pid: int | None, marker: str, started: str | None = None) -> bool:
    """Whether ``pid`` is alive, of this user, carries ``marker``, and (when ``started`` is
    recorded) is the very process started then (see :func:`identity`)."""
    if not pid or pid <= 0 or not marker:
        return False
    argv = command_line(pid)
    if argv is None or not carries(argv, marker) or _owner(pid) != os.getuid():
        return False
    return started is None or identity(pid) == started


def find_marked(marker: str) -> list[int]:
    """Every live process of this user carrying ``marker`` (see :func:`carries`)."""
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and is_ours(int(entry.name), marker):
            found.append(int(entry.name))
    return sorted(found)


def _exited(pid: int, started: str | None) -> bool:
    """Whether ``pid`` (the process recorded as ``started``) has fully exited.

    A dying process loses its command line long before it is over (its memory and files are
    released after), so only its disappearance, or a zombie state with no thread left, counts.
    Our own children are collected here (no zombie left behind).
    """
    with contextlib.suppress(ChildProcessError):
        collected, _ = os.waitpid(pid, os.WNOHANG)
        if collected == pid:
            return True
    if started is not None and identity(pid) not in (None, started):
        return True  # the pid already belongs to a newer process
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return True
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    zombie = fields.get("State", "").split()[:1] in (["Z"], ["X"])
    return zombie and int(fields.get("Threads", "1").strip() or 1) <= 1


def _wait_exited(pids: dict[int, str | None], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for every one of ``pids`` to exit; those still there."""
    pending = dict(pids)
    deadline = time.monotonic() + timeout
    while True:
        pending = {pid: s for pid, s in pending.items() if not _exited(pid, s)}
        if not pending or time.monotonic() >= deadline:
            return sorted(pending)
        time.sleep(0.05)


def terminate(
    pids: list[int], marker: str, grace: float = 5.0, started: dict[int, str | None] | None = None
) -> list[int]:
    """Stop those of ``pids`` that are ours: SIGTERM, then SIGKILL after ``grace`` seconds,
    and return only once every one has exited.

    ``started`` maps pids to their recorded :func:`identity`. Returns the pids that were
    signalled; pids that are gone or not ours are left alone. :class:`ExternalCommandError`
    names those still there :data:`KILL_WAIT` seconds after SIGKILL.
    """
    known = started or {}
    ours = {
        pid: known.get(pid) or identity(pid)
        for pid in dict.fromkeys(pids)
        if is_ours(pid, marker, known.get(pid))
    }
    pending = list(ours)
    if grace > 0:
        for pid in pending:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        pending = _wait_exited({pid: ours[pid] for pid in pending}, grace)
    for pid in pending:
        if identity(pid) == ours[pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    left = _wait_exited({pid: ours[pid] for pid in pending}, KILL_WAIT)
    if left:
        raise ExternalCommandError(
            f"process(es) {', '.join(map(str, left))} carrying {marker} did not exit "
            f"{KILL_WAIT:g} s after SIGKILL (stuck in the kernel?); check them with "
            f"'ps -o pid,stat,cmd -p {','.join(map(str, left))}' and run 'nxc stop' again"
        )
    return list(ours)
