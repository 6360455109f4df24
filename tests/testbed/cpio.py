"""An in-memory file tree written as a gzip'd newc cpio archive (the Linux initramfs format).

Building the archive in Python keeps it reproducible (fixed owners and times) and lets it hold
device nodes without root privileges.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nxc.errors import InputError


@dataclass(frozen=True)
class Entry:
    """One archive member: ``data`` for files, ``target`` for symlinks, ``rdev`` for devices."""

    mode: int
    data: bytes = b""
    target: str = ""
    rdev: tuple[int, int] = (0, 0)


class Tree:
    """Files of the future root file system, keyed by absolute path."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    @staticmethod
    def _key(path: str) -> str:
        clean = str(PurePosixPath("/", path))
        if clean == "/":
            raise InputError("the archive root cannot be an entry")
        return clean

    def _parents(self, key: str) -> None:
        for parent in reversed(PurePosixPath(key).parents[:-1]):
            self.entries.setdefault(str(parent), Entry(stat.S_IFDIR | 0o755))

    def directory(self, path: str, mode: int = 0o755) -> None:
        """Add a directory (parents are added as needed)."""
        key = self._key(path)
        self._parents(key)
        self.entries[key] = Entry(stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file with ``data``."""
        key = self._key(path)
        self._parents(key)
        self.entries[key] = Entry(stat.S_IFREG | mode, data=data)

    def copy(self, path: str, source: Path, mode: int | None = None) -> None:
        """Add ``source``'s content (its permission bits unless ``mode`` is given)."""
        bits = stat.S_IMODE(source.stat().st_mode) if mode is None else mode
        self.file(path, source.read_bytes(), bits)

    def symlink(self, path: str, target: str) -> None:
        """Add a symbolic link to ``target``."""
        key = self._key(path)
        self._parents(key)
        self.entries[key] = Entry(stat.S_IFLNK | 0o777, target=target)

    def char_device(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node."""
        key = self._key(path)
        self._parents(key)
        self.entries[key] = Entry(stat.S_IFCHR | mode, rdev=(major, minor))

    def add_tree(self, source: Path, rename: dict[str, str] | None = None) -> None:
        """Add everything under ``source`` (an unpacked .deb), moving top folders per ``rename``.

        ``rename`` maps a top-level folder (``"bin"``) to where it lives (``"usr/bin"``), which
        is how the merged-/usr layout is kept for packages that still ship ``/bin`` or ``/lib``.
        """
        rename = rename or {}
        for item in sorted(source.rglob("*")):
            relative = item.relative_to(source)
            if relative.name.startswith(".nxc-"):
                continue
            parts = list(relative.parts)
            if parts[0] in rename:
                parts[0:1] = rename[parts[0]].split("/")
            dest = "/".join(parts)
            if item.is_symlink():
                self.symlink(dest, str(item.readlink()))
            elif item.is_dir():
                if self._key(dest) not in self.entries:
                    self.directory(dest, stat.S_IMODE(item.stat().st_mode))
            elif item.is_file():
                self.copy(dest, item)

    def write(self, out: Path, level: int = 6) -> None:
        """Write the tree as a gzip'd newc cpio archive to ``out``."""
        with (
            open(out, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz,
        ):
            for ino, key in enumerate(sorted(self.entries), start=1):
                entry = self.entries[key]
                body = entry.target.encode() if entry.target else entry.data
                gz.write(_header(key.lstrip("/"), entry, ino, len(body)))
                gz.write(body + _pad(len(body)))
            gz.write(_header("TRAILER!!!", Entry(0), 0, 0))


def with_file(initrd: Path, path: str, data: bytes, mode: int, out: Path) -> Path:
    """``initrd`` with one more file appended as a second archive (the kernel unpacks every
    archive of a concatenated initramfs in turn): ``out``."""
    extra = Tree()
    extra.file(path, data, mode)
    extra.write(out.with_name(out.name + ".part"))
    out.write_bytes(initrd.read_bytes() + out.with_name(out.name + ".part").read_bytes())
    out.with_name(out.name + ".part").unlink()
    return out


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(name: str, entry: Entry, ino: int, size: int) -> bytes:
    encoded = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (ino, entry.mode, 0, 0, nlink, 0, size, 0, 0, *entry.rdev, len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    return header + encoded + _pad(len(header) + len(encoded))
