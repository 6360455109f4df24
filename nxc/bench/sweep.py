"""Parameter sweeps: block size x number of clients x processes per client x file layout."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from nxc.errors import InputError

MODES = ("fpp", "shared")
"""``fpp``: one file per process; ``shared``: every process of every client writes one file."""

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"(\d+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str, option: str) -> int:
    """Bytes of ``4k``, ``1M``, ``2GiB``, ``512`` (binary units); ``option`` names the flag."""
    match = _SIZE.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise InputError(
            f"{option} {text!r}: not a size; give a positive number with an optional unit "
            "k, M, G or T (binary), e.g. '4k,1M'"
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def format_size(size: int) -> str:
    """The shortest exact spelling of ``size`` bytes: ``4k``, ``1M``, ``1536``."""
    for unit in ("t", "g", "m", "k"):
        factor = _UNITS[unit]
        if size % factor == 0:
            return f"{size // factor}{unit.upper() if unit != 'k' else unit}"
    return str(size)


def _list(text: str, option: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise InputError(f"{option} {text!r}: give a comma-separated list, e.g. '1,4'")
    return items


def _counts(text: str, option: str) -> list[int]:
    counts = []
    for item in _list(text, option):
        if not item.isdigit() or int(item) < 1:
            raise InputError(f"{option} {text!r}: {item!r} is not a positive integer")
        counts.append(int(item))
    return counts


@dataclass(frozen=True)
class SweepPoint:
    """One run of the sweep: ``clients`` nodes each running ``jobs`` processes."""

    block_size: int
    clients: int
    jobs: int
    mode: str
    operation: str

    @property
    def label(self) -> str:
        """``write bs=1M clients=2 jobs=4 fpp``."""
        return (
            f"{self.operation} bs={format_size(self.block_size)} clients={self.clients} "
            f"jobs={self.jobs} {self.mode}"
        )


@dataclass(frozen=True)
class SweepSpec:
    """The values of each sweep dimension; :meth:`points` is their product."""

    block_sizes: tuple[int, ...]
    jobs: tuple[int, ...]
    clients: tuple[int, ...] | None
    modes: tuple[str, ...]
    operations: tuple[str, ...]

    @classmethod
    def parse(
        cls,
        sizes: str,
        jobs: str = "1",
        clients: str | None = None,
        modes: str = "fpp",
        operations: str = "write,read",
        allowed_operations: tuple[str, ...] = ("write", "read", "randwrite", "randread"),
    ) -> SweepSpec:
        """Parse the comma-separated option values (``clients`` None: all selected nodes)."""
        mode_list = _list(modes, "--modes")
        bad_modes = [mode for mode in mode_list if mode not in MODES]
        if bad_modes:
            raise InputError(f"--modes: unknown mode {bad_modes[0]!r}; use {', '.join(MODES)}")
        operation_list = _list(operations, "--rw")
        bad_ops = [op for op in operation_list if op not in allowed_operations]
        if bad_ops:
            raise InputError(
                f"--rw: unknown operation {bad_ops[0]!r}; use {', '.join(allowed_operations)}"
            )
        return cls(
            block_sizes=tuple(parse_size(s, "--sizes") for s in _list(sizes, "--sizes")),
            jobs=tuple(_counts(jobs, "--jobs")),
            clients=tuple(_counts(clients, "--clients")) if clients is not None else None,
            modes=tuple(mode_list),
            operations=tuple(operation_list),
        )

    def points(self, available_clients: int) -> list[SweepPoint]:
        """Every combination, writes before reads for each layout (reads need the files)."""
        clients = self.clients or (available_clients,)
        too_many = [count for count in clients if count > available_clients]
        if too_many:
            raise InputError(
                f"--clients {max(too_many)}: only {available_clients} client node(s) selected; "
                "start more nodes or lower --clients"
            )
        return [
            SweepPoint(size, count, jobs, mode, operation)
            for size, count, jobs, mode, operation in itertools.product(
                self.block_sizes, clients, self.jobs, self.modes, self.operations
            )
        ]
