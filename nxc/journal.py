"""The deployment journal: what happened to a deployment, one typed event per JSON line.

The journal is ``deploy/<name>.journal.jsonl``, next to the record. The record says what runs
now; the journal says how it got there (the commands, how long each phase took, which nodes came,
went, failed or were repaired, and where the software came from). It is append-only and
outlives ``nxc stop``; ``nxc clean`` removes it with ``deploy/``.

Writing (start/stop code)::

    journal = Journal(store, deployment.name)
    journal.append(CommandEvent.current())
    with phase(journal, "boot"):
        flavour.start(...)
    journal.append(NodesFailed(reasons={"node3": "no SSH after 300 s"}))
    journal.append(ProvenanceEvent(provenance=provenance.collect(root, deployment, manifest)))

Each event is one line written by a single ``os.write`` on an ``O_APPEND`` descriptor and
fsync'd, so concurrent writers never interleave. Reading (:meth:`Journal.read`) skips a last
line without its newline (a writer died mid-write) and says so; a broken line before the end
is a :class:`~nxc.errors.JournalError` naming the file and line. See ``docs/journal.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from nxc.deployment import DeploymentStore, parse_name
from nxc.errors import JournalError

JOURNAL_SUFFIX = ".journal.jsonl"
_FIX = "fix or delete that line (the journal is a plain JSON-lines file)"


def utc_now() -> str:
    """The current time as ISO-8601 UTC with a ``Z``, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every journal event has: when (ISO-8601 UTC) and which deployment.

    ``deployment`` may be left empty: :meth:`Journal.append` fills in the journal's name.
    """

    kind: ClassVar[str] = ""
    """The ``kind`` key of its lines, given as ``class X(Event, kind="x")``."""
    time: str = field(default_factory=utc_now)
    deployment: str = ""

    def __init_subclass__(cls, kind: str = "", **arguments: Any) -> None:
        super().__init_subclass__(**arguments)
        if kind:
            cls.kind = kind

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``kind`` first, then the fields."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    def summary(self) -> str:
        """One line saying what happened (``nxc status --journal``)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class CommandEvent(Event, kind="command"):
    """An nxc command worked on the deployment: its arguments, folder, user and pid."""

    argv: list[str]
    cwd: str
    user: str
    pid: int

    @classmethod
    def current(cls) -> CommandEvent:
        """This process's command line, working folder, user and pid."""
        argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else []
        try:
            user = getpass.getuser()
        except (OSError, KeyError):  # no login name and no passwd entry (some containers)
            user = str(os.getuid())
        return cls(argv=argv, cwd=os.getcwd(), user=user, pid=os.getpid())

    def summary(self) -> str:
        """The command line, by whom, where."""
        return f"{' '.join(self.argv)} (user {self.user}, pid {self.pid}, in {self.cwd})"


@dataclass(frozen=True, kw_only=True)
class PhaseEvent(Event, kind="phase"):
    """A phase of a command (build, acquire hosts, boot, ...) ended after ``seconds``;
    ``ok`` is false if it ended by an error."""

    name: str
    seconds: float
    ok: bool = True

    def summary(self) -> str:
        """The phase, its duration and whether it failed."""
        return f"{self.name} {self.seconds:.3f} s{'' if self.ok else ' (failed)'}"


@dataclass(frozen=True, kw_only=True)
class _Hostnames(Event):
    """Events about some nodes; subclasses only name the kind (no fields of their own)."""

    hostnames: list[str]

    def summary(self) -> str:
        """The hostnames."""
        return ", ".join(self.hostnames) or "none"


class NodesAdded(_Hostnames, kind="nodes_added"):
    """Nodes joined the deployment."""


class NodesRemoved(_Hostnames, kind="nodes_removed"):
    """Nodes left the deployment (stopped or released)."""


class NodesRepaired(_Hostnames, kind="nodes_repaired"):
    """Failed nodes were brought back."""


@dataclass(frozen=True, kw_only=True)
class NodesFailed(Event, kind="nodes_failed"):
    """Nodes failed: hostname -> why."""

    reasons: dict[str, str]

    def summary(self) -> str:
        """Each hostname with its reason."""
        return "; ".join(f"{host}: {why}" for host, why in self.reasons.items()) or "none"


@dataclass(frozen=True, kw_only=True)
class ProvenanceEvent(Event, kind="provenance"):
    """Where the deployment's software came from (see :func:`nxc.provenance.collect`)."""

    provenance: dict[str, Any]

    def summary(self) -> str:
        """The nxc version and the nixpkgs revision."""
        nixpkgs = self.provenance.get("nixpkgs") or {}
        rev = nixpkgs.get("rev") or "unknown"
        return f"nxc {self.provenance.get('nxc_version', '?')}, nixpkgs {rev}"


EVENT_TYPES: dict[str, type[Event]] = {
    kind.kind: kind
    for kind in (
        CommandEvent,
        PhaseEvent,
        NodesAdded,
        NodesRemoved,
        NodesFailed,
        NodesRepaired,
        ProvenanceEvent,
    )
}
"""Event kind (the ``kind`` key of a line) -> its class."""


EventT = TypeVar("EventT", bound=Event)


@dataclass(frozen=True)
class JournalContents:
    """The events of a journal, oldest first; ``torn_line`` is the number of a last line that
    was skipped because it has no newline (its writer died mid-write, or is writing now)."""

    events: tuple[Event, ...]
    torn_line: int | None = None


class Journal:
    """The journal of the deployment ``name`` in ``store``'s folder."""

    def __init__(self, store: DeploymentStore, name: str) -> None:
        parse_name(name)
        self.name = name
        self.path = store.deploy_dir / f"{name}{JOURNAL_SUFFIX}"

    def exists(self) -> bool:
        """Whether anything was journalled for this deployment."""
        return self.path.is_file()

    def append(self, event: Event) -> Event:
        """Write ``event`` (its ``deployment`` filled in when empty) as one durable line.

        A torn last line left by a writer that died is cut off first (it was never a readable
        event). Returns the event as written.
        """
        if not event.deployment:
            event = dataclasses.replace(event, deployment=self.name)
        elif event.deployment != self.name:
            raise self._error(f"refusing an event of deployment {event.deployment!r}")
        line = (json.dumps(event.to_dict(), separators=(",", ":")) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise self._error(f"cannot open for writing ({error.strerror or error})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _cut_torn_tail(fd)
            written = os.write(fd, line)
            if written != len(line):
                raise self._error(f"short write ({written} of {len(line)} bytes); disk full?")
            os.fsync(fd)
        except OSError as error:
            raise self._error(f"cannot write ({error.strerror or error})") from None
        finally:
            os.close(fd)
        return event

    def read(self) -> JournalContents:
        """Every event, oldest first; a missing journal is an empty one."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return JournalContents(())
        except OSError as error:
            raise self._error(f"cannot read ({error.strerror or error})") from None
        lines = data.split(b"\n")
        tail = lines.pop()  # after the last newline: empty unless the last write was torn
        events = tuple(self._parse(text, number) for number, text in enumerate(lines, 1))
        return JournalContents(events, len(lines) + 1 if tail else None)

    def events(self) -> tuple[Event, ...]:
        """The complete events, oldest first (see :meth:`read` for the torn-line note)."""
        return self.read().events

    def last(self, kind: type[EventT]) -> EventT | None:
        """The newest event of class ``kind``, if any."""
        for event in reversed(self.events()):
            if isinstance(event, kind):
                return event
        return None

    def _parse(self, text: bytes, number: int) -> Event:
        where = f"line {number}"
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise self._error(f"{where} is not JSON ({error}); {_FIX}") from None
        if not isinstance(data, Mapping):
            raise self._error(f"{where} is not a JSON object; {_FIX}")
        fields = dict(data)
        kind = fields.pop("kind", None)
        event_type = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
        if event_type is None:
            raise self._error(
                f"{where} has unknown event kind {kind!r} (known: {', '.join(EVENT_TYPES)}; "
                f"written by a newer nxc?); {_FIX}"
            )
        try:
            event = event_type(**fields)
        except TypeError as error:
            raise self._error(f"{where}: bad {kind} event ({error}); {_FIX}") from None
        _check_types(event, self._error, where)
        return event

    def _error(self, message: str) -> JournalError:
        return JournalError(f"{self.path}: {message}")


def _cut_torn_tail(fd: int) -> None:
    """Truncate the file behind ``fd`` to its last newline (the caller holds the flock)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    end = size
    while end > 0:
        start = max(0, end - 4096)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "time": str,
    "deployment": str,
    "argv": list,
    "cwd": str,
    "user": str,
    "pid": int,
    "name": str,
    "seconds": (int, float),
    "ok": bool,
    "hostnames": list,
    "reasons": dict,
    "provenance": dict,
}


def _check_types(event: Event, error: Callable[[str], JournalError], where: str) -> None:
    """Refuse a line whose fields have the wrong JSON types (hand-edited, say)."""
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if (
            not isinstance(value, _FIELD_TYPES[item.name])
            or (item.name == "pid" and isinstance(value, bool))
            or not _strings(item.name, value)
        ):
            shown = type(value).__name__
            raise error(
                f"{where}: {event.kind} field {item.name!r} has a wrong type ({shown}); {_FIX}"
            )


def _strings(name: str, value: object) -> bool:
    """Whether the items of a list (the keys and values of ``reasons``) are strings."""
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    if name == "reasons" and isinstance(value, dict):
        return all(isinstance(item, str) for pair in value.items() for item in pair)
    return True


@contextlib.contextmanager
def phase(journal: Journal, name: str) -> Iterator[None]:
    """Journal how long the block took as a :class:`PhaseEvent` ``name``; an error leaving
    the block is journalled with ``ok=False`` and goes on."""
    started = time.monotonic()

    def ended(ok: bool) -> PhaseEvent:
        return PhaseEvent(name=name, seconds=round(time.monotonic() - started, 6), ok=ok)

    try:
        yield
    except BaseException:
        with contextlib.suppress(JournalError):  # the block's own error is the one to see
            journal.append(ended(ok=False))
        raise
    journal.append(ended(ok=True))
