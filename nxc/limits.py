"""Bounded fan-out: how many hosts nxc works on at once, and the open files that needs.

Every group operation of nxc (pushes, kexec commands, readiness probes, info fetches,
``nxc run``, the driver's connections) works on at most ``concurrency`` hosts at a time,
:data:`DEFAULT_CONCURRENCY` unless the caller passes another value (checked by
:func:`check_concurrency`). Running that many SSH connections needs open files: each OpenSSH
client child costs the nxc process up to :data:`FDS_PER_CONNECTION` descriptors (its stdin,
stdout and stderr pipes, plus a descriptor briefly held while it starts), an asyncssh
connection one socket. :func:`ensure_open_files` raises the process's soft ``RLIMIT_NOFILE``
towards its hard limit so that ``concurrency`` connections fit, or raises
:class:`~nxc.errors.ResourceLimitError` saying what limit stops it and what to do.
"""

from __future__ import annotations

import resource

from nxc.errors import InputError, ResourceLimitError

DEFAULT_CONCURRENCY = 64
"""Hosts worked on at once when the caller does not say (as the SSH transport's default)."""

FDS_PER_CONNECTION = 4
"""Descriptors one SSH connection may hold in the nxc process (pipes of an OpenSSH child)."""

RESERVED_FDS = 64
"""Descriptors kept for everything else (logs, the record, the event loop, Python itself)."""

NR_OPEN = "/proc/sys/fs/nr_open"


def check_concurrency(concurrency: int) -> int:
    """``concurrency`` if it is a usable limit (1 or more), else :class:`InputError`."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InputError(
            f"a concurrency limit of {concurrency!r} is not usable; give a whole number of "
            f"hosts worked on at once, 1 or more (default {DEFAULT_CONCURRENCY})"
        )
    return concurrency


def open_files_needed(concurrency: int) -> int:
    """Descriptors ``concurrency`` simultaneous SSH connections need, reserve included."""
    return RESERVED_FDS + FDS_PER_CONNECTION * check_concurrency(concurrency)


def ensure_open_files(concurrency: int) -> int:
    """Make room for ``concurrency`` SSH connections; the soft open-file limit afterwards.

    The soft limit is raised to what is needed (never lowered, never above the hard limit).
    :class:`ResourceLimitError` when the hard limit (or the kernel's ``fs.nr_open``) is too
    low: the message names the limit, what is needed and how to get there.
    """
    needed = open_files_needed(concurrency)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ResourceLimitError(
            f"{concurrency} hosts at once need {needed} open files but this process may "
            f"open at most {hard} (hard RLIMIT_NOFILE); raise the hard limit (e.g. "
            f"'ulimit -Hn {needed}' as root, or 'nofile' in /etc/security/limits.conf) or "
            f"work on at most {max((hard - RESERVED_FDS) // FDS_PER_CONNECTION, 1)} hosts "
            "at once"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as error:
        raise ResourceLimitError(
            f"{concurrency} hosts at once need {needed} open files but the soft limit "
            f"cannot be raised from {soft} ({error}; the kernel allows at most "
            f"{_nr_open()} per process, see {NR_OPEN}); work on fewer hosts at once"
        ) from None
    return needed


def _nr_open() -> str:
    """The kernel's per-process maximum of open files, or ``unknown``."""
    try:
        with open(NR_OPEN) as handle:
            return handle.read().strip()
    except OSError:
        return "unknown"
