"""Atomic file replacement: readers see the old content or the new one, never a mix.

The new content goes to a temporary file in the same folder (same file system), is flushed to
disk, then renamed over the target with :func:`os.replace`. A crash at any point leaves the
previous file intact; at worst a hidden ``.<name>.<random>.tmp`` file stays behind, which
nothing reads (record listings only match ``*.json``) and ``nxc clean`` removes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def write_atomic(path: Path, content: str | bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``content`` atomically (temp file + fsync + rename).

    ``mode`` sets the permissions of the new file. The parent folder must exist.
    """
    data = content.encode() if isinstance(content, str) else content
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fchmod(temp.fileno(), mode)
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
