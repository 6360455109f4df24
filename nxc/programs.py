"""Finding the external programs nxc runs, in one place.

Each is looked up on ``PATH`` when first needed; a missing one is a
:class:`~nxc.errors.MissingToolError` naming the Debian package that provides it and what it
was needed for. :func:`has_program` is for the optional ones nxc can do without (TakTuk's
tree broadcast, OAR's host list).
"""

from __future__ import annotations

import shutil

from nxc.errors import MissingToolError


def find_program(program: str, package: str, purpose: str) -> str:
    """Absolute path of ``program`` on PATH, or :class:`MissingToolError` naming its package
    and ``purpose`` (e.g. "to run VMs")."""
    path = shutil.which(program)
    if path is None:
        raise MissingToolError(program, package, purpose)
    return path


def has_program(program: str) -> bool:
    """Whether ``program`` is on PATH (for programs nxc can do without)."""
    return shutil.which(program) is not None


def optional_program(program: str) -> str | None:
    """Absolute path of ``program`` on PATH, or ``None`` when it is not installed."""
    return shutil.which(program)
