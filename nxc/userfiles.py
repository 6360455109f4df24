"""Reading files the user names (roles files, machine files, ``nxc.json``) with a bound.

:func:`read_text` reads like :meth:`pathlib.Path.read_text` but refuses what is not a regular
file (a FIFO would block, ``/dev/zero`` would read until memory runs out) and files over
:data:`MAX_BYTES`. The refusal is a :class:`UserFileRefused`, an :class:`OSError` whose text is
the reason, so callers that already turn ``OSError`` into one line need no other change.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: The largest user file nxc reads (these files list roles, hosts, a few settings).
MAX_BYTES = 1 << 20


class UserFileRefused(OSError):
    """A user file nxc will not read: not a regular file, or too large."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(errno.EINVAL, reason)
        self.path = path

    def __str__(self) -> str:
        return str(self.strerror)


def read_text(path: Path, *, encoding: str = "utf-8", limit: int = MAX_BYTES) -> str:
    """The text of the regular file at ``path``, of at most ``limit`` bytes.

    Raises :class:`UserFileRefused` for anything else, ``OSError`` (``FileNotFoundError``,
    ``IsADirectoryError``...) when it cannot be opened, ``UnicodeDecodeError`` when it is not
    text in ``encoding``.
    """
    # O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOCTTY: never adopt a terminal.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise UserFileRefused(path, f"is {_kind(mode)}, not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise UserFileRefused(path, f"is larger than {_size(limit)}, too large for this file")
    return data.decode(encoding)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _size(limit: int) -> str:
    if limit >= 1 << 20 and limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    return f"{limit} bytes"
