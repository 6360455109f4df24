"""Shared-library closure of guest binaries, resolved with the packaged dynamic loader."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from nxc.errors import InputError

MULTIARCH = "x86_64-linux-gnu"
_LINE = re.compile(r"^\s*(\S+) => (not found|\S+ \(0x[0-9a-f]+\))$")


def is_elf(path: Path) -> bool:
    """Whether ``path`` is a regular ELF file."""
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def library_dirs(roots: list[Path]) -> list[Path]:
    """The library folders inside unpacked packages."""
    dirs = []
    for root in roots:
        for sub in (f"lib/{MULTIARCH}", f"usr/lib/{MULTIARCH}"):
            if (root / sub).is_dir():
                dirs.append(root / sub)
    return dirs


def find_loader(roots: list[Path]) -> Path:
    """The dynamic loader shipped by the unpacked libc6 package."""
    for directory in library_dirs(roots):
        candidate = directory / "ld-linux-x86-64.so.2"
        if candidate.exists():
            return candidate
    raise InputError("no ld-linux-x86-64.so.2 among the unpacked packages: add libc6")


def needed_libraries(binary: Path, loader: Path, dirs: list[Path]) -> dict[str, Path]:
    """soname → file for every library ``binary`` loads, found only inside ``dirs``."""
    result = subprocess.run(
        [str(loader), "--list", "--library-path", ":".join(map(str, dirs)), str(binary)],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if "not a dynamic executable" in output:
        return {}
    if result.returncode != 0:
        raise InputError(
            f"cannot resolve the libraries of {binary.name}: {output.strip()[-300:]}; "
            "add the package that ships the missing library to the guest's package list"
        )
    found = {}
    allowed = tuple(str(d) for d in dirs)
    for line in result.stdout.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        soname, where = match.groups()
        path = where.split(" (")[0]
        if "/" in soname:
            continue
        if where == "not found" or not path.startswith(allowed):
            raise InputError(
                f"{binary.name} needs {soname}, which no unpacked package provides; "
                "add the package that ships it to the guest's package list"
            )
        found[soname] = Path(path)
    return found
