"""A sweep's state on disk, so that an interrupted sweep resumes where it stopped.

The state folder (``artifact/bench/<stem>.sweep``, next to the results) holds:

* ``definition.json``: what the sweep measures (tool, deployment, clients, settings, points,
  repeats, baseline). Running a sweep whose folder holds another definition is refused
  (:class:`SweepChangedError`) unless the caller asks to start over.
* execo's :class:`~execo_engine.sweep.ParamSweeper` files (``sweeps``, ``done``,
  ``inprogress``): which *runs* are done. A run is one repeat of one group of points (block
  size, clients, jobs, layout) on one target (the file system, or the local disk), its
  operations in order (a read needs the file its write made).
* ``runs/<key>.json``: each done run's per-client numbers, written atomically before the
  run is marked done, so a run either counts with its numbers or is redone.
* ``lock``: held (``flock``) while a process runs the sweep; a second one is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nxc.atomic import write_atomic
from nxc.bench.results import HostNumbers
from nxc.bench.sweep import SweepPoint, format_size
from nxc.errors import SweepBusyError, SweepChangedError

TARGETS = ("fs", "local")
"""Where a run writes: the benchmarked file system, or the clients' local disk."""


@dataclass(frozen=True)
class Group:
    """Points sharing everything but the operation, run one after the other."""

    block_size: int
    clients: int
    jobs: int
    mode: str
    operations: tuple[str, ...]

    def points(self) -> list[SweepPoint]:
        """The group's points, in operation order."""
        return [
            SweepPoint(self.block_size, self.clients, self.jobs, self.mode, operation)
            for operation in self.operations
        ]


def groups_of(points: list[SweepPoint]) -> list[Group]:
    """``points`` grouped by everything but the operation, in first-seen order."""
    operations: dict[tuple[int, int, int, str], list[str]] = {}
    for p in points:
        operations.setdefault((p.block_size, p.clients, p.jobs, p.mode), []).append(p.operation)
    return [Group(*key, tuple(ops)) for key, ops in operations.items()]


@dataclass(frozen=True)
class RunKey:
    """One run of the sweep: ``repeat`` (from 0) of group number ``group`` on ``target``."""

    group: int
    repeat: int
    target: str

    def combination(self) -> Any:
        """The hashable, picklable element execo's ``ParamSweeper`` tracks."""
        from execo_engine.sweep import HashableDict

        return HashableDict(group=self.group, repeat=self.repeat, target=self.target)

    @property
    def file_name(self) -> str:
        """``r0-g3-fs.json``."""
        return f"r{self.repeat}-g{self.group}-{self.target}.json"


def run_keys(groups: int, repeat: int, local: bool) -> list[RunKey]:
    """Every run, in the order they are done: the whole sweep once, then again for each
    repeat (drifts spread over all points); each group on the file system, then locally."""
    targets = TARGETS if local else TARGETS[:1]
    return [
        RunKey(group, rep, target)
        for rep in range(repeat)
        for group in range(groups)
        for target in targets
    ]


def describe(groups: list[Group]) -> list[str]:
    """The groups as text for the definition (``bs=4k clients=2 jobs=1 fpp: write,read``)."""
    return [
        f"bs={format_size(g.block_size)} clients={g.clients} jobs={g.jobs} {g.mode}: "
        + ",".join(g.operations)
        for g in groups
    ]


class SweepState:
    """The on-disk state of one sweep; use as a context manager (holds the lock)."""

    def __init__(self, folder: Path, definition: dict[str, Any], keys: list[RunKey]) -> None:
        self.folder = folder
        self.definition = definition
        self.keys = keys
        self._lock: int | None = None
        self._sweeper: Any = None

    def __enter__(self) -> SweepState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, restart: bool = False) -> int:
        """Take the lock, check or write the definition, and load what is done; returns how
        many runs were done before. A previous state with another definition is refused if
        some of its runs are done (:class:`SweepChangedError`), discarded otherwise or when
        ``restart``."""
        from execo_engine.sweep import ParamSweeper

        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = self._take_lock()
        definition_path = self.folder / "definition.json"
        if definition_path.exists():
            stored = json.loads(definition_path.read_text())
            if restart or not any((self.folder / "runs").glob("*.json")):
                # nothing measured yet (or the caller said so): nothing lost in starting over
                self._discard()
            else:
                self._check(stored)
        if not definition_path.exists():
            write_atomic(definition_path, json.dumps(self.definition, indent=2) + "\n")
        (self.folder / "runs").mkdir(exist_ok=True)
        self._sweeper = ParamSweeper(
            str(self.folder), [key.combination() for key in self.keys], save_sweeps=True
        )
        # the lock is ours: anything marked in progress was left by a process that died.
        # reset() forgets it but does not put it back to do; full_update() recomputes that.
        self._sweeper.reset(reset_inprogress=True)
        self._sweeper.full_update()
        done = self._sweeper.get_done()
        return len(done)

    def _take_lock(self) -> int:
        fd = os.open(self.folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SweepBusyError(
                f"{self.folder}: another nxc bench is running this sweep; wait for it or "
                "choose another --output"
            ) from None
        return fd

    def _discard(self) -> None:
        shutil.rmtree(self.folder / "runs", ignore_errors=True)
        for name in ("definition.json", "sweeps", "done", "inprogress"):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()

    def _check(self, stored: dict[str, Any]) -> None:
        changed = sorted(
            key
            for key in set(stored) | set(self.definition)
            if stored.get(key) != self.definition.get(key)
        )
        if changed:
            raise SweepChangedError(
                f"{self.folder} holds a sweep defined otherwise ({', '.join(changed)} differ); "
                "re-run it unchanged to resume it, add --restart to discard it, or choose "
                "another --output"
            )

    def pending(self) -> int:
        """How many runs are not done yet."""
        return len(self._sweeper.get_remaining())

    def next(self) -> RunKey | None:
        """The first run not done yet (marked in progress), ``None`` when all are done."""
        order = {key.combination(): i for i, key in enumerate(self.keys)}
        combination = self._sweeper.get_next(
            lambda remaining: sorted(remaining, key=lambda c: order.get(c, len(order)))
        )
        if combination is None:
            return None
        return RunKey(combination["group"], combination["repeat"], combination["target"])

    def done(self, key: RunKey, numbers: dict[str, HostNumbers]) -> None:
        """Record ``key``'s numbers (operation -> per-client numbers) and mark it done."""
        write_atomic(self.folder / "runs" / key.file_name, json.dumps(numbers) + "\n")
        self._sweeper.done(key.combination())

    def cancel(self, key: RunKey) -> None:
        """Put ``key`` back to do (after a failure or an interrupt)."""
        self._sweeper.cancel(key.combination())

    def numbers(self, key: RunKey) -> dict[str, HostNumbers]:
        """A done run's numbers."""
        return json.loads((self.folder / "runs" / key.file_name).read_text())

    def close(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
