"""Kernel modules: read dependencies from each module's ``.modinfo`` and order them for insmod.

Debian's kernel package ships no ``modules.dep`` (depmod runs at install time), so the guest
loads the modules it needs with ``insmod`` in an order computed here.
"""

from __future__ import annotations

import lzma
import struct
from pathlib import Path

from nxc.errors import InputError


def modinfo(data: bytes) -> dict[str, str]:
    """The ``key=value`` strings of an ELF64 kernel module's ``.modinfo`` section."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise InputError("not an ELF64 kernel module")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        base = shoff + index * shentsize
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", data, base)
        return name, offset, size

    _, names_offset, _ = section(shstrndx)
    for index in range(shnum):
        name_index, offset, size = section(index)
        end = data.index(b"\0", names_offset + name_index)
        if data[names_offset + name_index : end] == b".modinfo":
            info = {}
            for entry in data[offset : offset + size].split(b"\0"):
                key, sep, value = entry.decode(errors="replace").partition("=")
                if sep:
                    info.setdefault(key, value)
            return info
    return {}


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    return lzma.decompress(data) if path.name.endswith(".xz") else data


def module_index(modules_dir: Path) -> dict[str, Path]:
    """Module name (underscores) → file, for every module under ``modules_dir``."""
    index = {}
    for path in modules_dir.rglob("*.ko*"):
        name = path.name.split(".ko")[0].replace("-", "_")
        index[name] = path
    return index


def load_order(modules_dir: Path, wanted: list[str]) -> list[tuple[str, bytes]]:
    """``wanted`` modules and their dependencies, dependencies first, as (name, ELF bytes)."""
    index = module_index(modules_dir)
    ordered: list[tuple[str, bytes]] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in placed:
            return
        if name in visiting:
            raise InputError(f"kernel module dependency cycle through {name}")
        if name not in index:
            raise InputError(
                f"kernel module '{name}' is not in {modules_dir}; pick a kernel package "
                "built with it (the Debian cloud kernels lack 9p: use linux-image-amd64)"
            )
        visiting.add(name)
        data = _read_module(index[name])
        for dep in filter(None, modinfo(data).get("depends", "").split(",")):
            visit(dep.replace("-", "_"))
        visiting.discard(name)
        placed.add(name)
        ordered.append((name, data))

    for name in wanted:
        visit(name.replace("-", "_"))
    return ordered
