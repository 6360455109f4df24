"""Deployment records: what was started, where, and everything ``nxc stop`` must undo.

A record is the JSON file ``deploy/<composition>::<flavour>[::tag].json``; next to it,
``deploy/<name>.d/`` holds the deployment's state (``known_hosts``, logs) and
``deploy/<name>.lock`` serialises the nxc processes working on it. Private keys are kept
outside the project, under :func:`secrets_root`: ``nix build path:<project>`` copies the whole
project folder into the world-readable Nix store.

A flavour writes the record *before* it launches anything, then updates it as things start::

    with store.lock(name):
        deployment = Deployment(composition, flavour, tag, nodes, manifest=str(path),
                                state=DeploymentState.starting)
        store.save(deployment)                  # stop can clean up from here on
        resources = VmResources(marker=marker, run_dir=run_dir)   # a typed section
        deployment.resources = resources.to_record()
        store.save(deployment)                  # what stop must undo, before it exists
        pid = launch(...)
        deployment.node("node1").state = NodeState.launching
        store.save(deployment)

``resources`` and each node's ``extra`` belong to the flavour, which reads and writes them as
typed sections (:mod:`nxc.record_section`), never by string key.

Records are written atomically (see :mod:`nxc.atomic`), so readers such as ``nxc status``
never need the lock. The format is versioned by the ``nxc_deployment`` key; see
``docs/records.md``.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nxc.atomic import write_atomic
from nxc.errors import DeploymentLockedError, DeploymentRecordError, InputError

RECORD_FORMAT = 1
RECORD_SUFFIX = ".json"
STATE_DIR_SUFFIX = ".d"
LOCK_SUFFIX = ".lock"
NAME_SEPARATOR = "::"
DEFAULT_LOCK_TIMEOUT = 30.0
CORRUPT_RECORD_HINT = "fix or delete the file, or remove all records with 'nxc clean --force'"

_NAME_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+-]*")


class NodeState(StrEnum):
    """Life cycle of one node, as nxc last recorded it."""

    planned = "planned"
    launching = "launching"
    running = "running"
    ready = "ready"
    dead = "dead"
    stopped = "stopped"


class DeploymentState(StrEnum):
    """Life cycle of a whole deployment, as nxc last recorded it."""

    planned = "planned"
    starting = "starting"
    running = "running"
    stopping = "stopping"
    stopped = "stopped"
    failed = "failed"


ACTIVE_STATES = frozenset(
    {DeploymentState.starting, DeploymentState.running, DeploymentState.stopping}
)
"""States in which a deployment may own live resources: ``nxc stop`` must run first."""


def deployment_name(composition: str, flavour: str, tag: str | None = None) -> str:
    """``composition::flavour[::tag]``, each part checked to be file-name safe."""
    parts = [("composition", composition), ("flavour", flavour)]
    if tag is not None:
        parts.append(("tag", tag))
    for what, value in parts:
        if not isinstance(value, str) or not _NAME_PART.fullmatch(value):
            raise InputError(
                f"invalid deployment {what} {value!r}: use letters, digits and '._+-' "
                "(not starting with '.', '+' or '-')"
            )
    return NAME_SEPARATOR.join(value for _, value in parts)


def parse_name(name: str) -> tuple[str, str, str | None]:
    """Split ``composition::flavour[::tag]``; :class:`InputError` if it is not one."""
    parts = name.split(NAME_SEPARATOR)
    if len(parts) not in (2, 3):
        raise InputError(
            f"invalid deployment name {name!r}: expected 'composition::flavour' or "
            "'composition::flavour::tag' (see 'nxc status' for the recorded ones)"
        )
    composition, flavour, *rest = parts
    tag = rest[0] if rest else None
    deployment_name(composition, flavour, tag)
    return composition, flavour, tag


@dataclass
class Node:
    """One node of a deployment: who it is, where nxc reaches it, what nxc knows of it."""

    hostname: str
    role: str
    address: str
    """Inter-node address: what the nodes' ``/etc/hosts`` says."""
    ssh_host: str
    """Where nxc reaches the node's SSH server (may differ from ``address``)."""
    ssh_port: int = 22
    host_key: str | None = None
    """The node's public SSH host key line, pinned in the deployment's ``known_hosts``."""
    mac: str | None = None
    state: NodeState = NodeState.planned
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Flavour-specific facts (container id, serial log path...)."""
    cluster: str | None = None
    """The Grid'5000 cluster the node was asked to be on (``-r role=cluster:NAME:N``)."""
    site: str | None = None
    """The Grid'5000 site the node was asked to be on (``-r role=site:NAME:N``)."""
    failure: str | None = None
    """Why the node was set aside (see ``Deployment.failed_nodes``); None for a node in use."""

    def __post_init__(self) -> None:
        self.state = NodeState(self.state)

    def to_dict(self) -> dict[str, Any]:
        """The node as it is stored in a record."""
        return {
            "hostname": self.hostname,
            "role": self.role,
            "address": self.address,
            "ssh_host": self.ssh_host,
            "ssh_port": self.ssh_port,
            "host_key": self.host_key,
            "mac": self.mac,
            "state": str(self.state),
            "pid": self.pid,
            "extra": self.extra,
        } | {
            key: value
            for key, value in (
                ("cluster", self.cluster),
                ("site", self.site),
                ("failure", self.failure),
            )
            if value is not None
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "node") -> Node:
        """Read a stored node; :class:`ValueError` saying which field is wrong."""
        fields = _Fields(data, where)
        extra = fields.optional("extra", dict) or {}
        failure = fields.optional("failure", str)
        if failure is None and isinstance(extra.get("failure"), str):
            failure = extra.pop("failure")  # records before nxc kept it among the extras
        return cls(
            hostname=fields.required("hostname", str),
            role=fields.required("role", str),
            address=fields.required("address", str),
            ssh_host=fields.required("ssh_host", str),
            ssh_port=fields.port("ssh_port"),
            host_key=fields.optional("host_key", str),
            mac=fields.optional("mac", str),
            state=fields.choice("state", NodeState),
            pid=fields.optional("pid", int),
            extra=extra,
            cluster=fields.optional("cluster", str),
            site=fields.optional("site", str),
            failure=failure,
        )


@dataclass
class Deployment:
    """A deployment record: its nodes, its state, and the resources ``nxc stop`` undoes."""

    composition: str
    flavour: str
    tag: str | None = None
    nodes: list[Node] = field(default_factory=list)
    manifest: str | None = None
    """Path of the build manifest the deployment was started from."""
    state: DeploymentState = DeploymentState.planned
    created_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    resources: dict[str, Any] = field(default_factory=dict)
    """Flavour-owned: everything stop must undo (pids, sockets, folders, networks, OAR job)."""
    started_by: dict[str, int] | None = None
    """The ``nxc start`` process that wrote the record: see :func:`process_identity`."""
    parameters: dict[str, str] = field(default_factory=dict)
    """Deployment parameters (``nxc start -p KEY=VALUE``), the deployment info's ``parameters``."""
    min_nodes: int | None = None
    """Start goes on without the nodes that failed when at least this many are ready."""
    failed_nodes: list[Node] = field(default_factory=list)
    """Nodes set aside by a start that went on without them (``Node.failure`` says why)."""
    activation: dict[str, dict[str, float | None]] = field(default_factory=dict)
    """Role → ``activated_at`` and ``ready_at``, seconds after the nodes were up, of the roles
    that wait for roles or have a readiness check (:mod:`nxc.activation`); ``activated_at``
    is ``None`` for a role started at boot."""

    def __post_init__(self) -> None:
        deployment_name(self.composition, self.flavour, self.tag)
        self.state = DeploymentState(self.state)
        if not self.updated_at:
            self.updated_at = self.created_at

    @property
    def name(self) -> str:
        """``composition::flavour[::tag]``: the record's file name without ``.json``."""
        return deployment_name(self.composition, self.flavour, self.tag)

    @property
    def is_active(self) -> bool:
        """True while the deployment may own live resources (starting, running, stopping)."""
        return self.state in ACTIVE_STATES

    @property
    def starter_gone(self) -> bool:
        """True if the record says ``starting`` but the ``nxc start`` that wrote it is gone."""
        return (
            self.state is DeploymentState.starting
            and self.started_by is not None
            and not process_alive(self.started_by)
        )

    def roles(self) -> dict[str, list[str]]:
        """Role → hostnames, in node order."""
        result: dict[str, list[str]] = {}
        for node in self.nodes:
            result.setdefault(node.role, []).append(node.hostname)
        return result

    def nodes_by_role(self, role: str) -> list[Node]:
        """The nodes of ``role``, in order; :class:`InputError` if no node has that role."""
        nodes = [node for node in self.nodes if node.role == role]
        if not nodes:
            known = ", ".join(self.roles()) or "none"
            raise InputError(f"deployment {self.name} has no role {role!r}; its roles are: {known}")
        return nodes

    def node(self, hostname: str) -> Node:
        """The node called ``hostname``; :class:`InputError` listing the hostnames if unknown."""
        for node in self.nodes:
            if node.hostname == hostname:
                return node
        known = ", ".join(node.hostname for node in self.nodes) or "none"
        raise InputError(f"deployment {self.name} has no node {hostname!r}; its nodes are: {known}")

    def to_dict(self) -> dict[str, Any]:
        """The record as it is stored (versioned by ``nxc_deployment``)."""
        return {
            "nxc_deployment": RECORD_FORMAT,
            "composition": self.composition,
            "flavour": self.flavour,
            "tag": self.tag,
            "state": str(self.state),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "manifest": self.manifest,
            "resources": self.resources,
            "started_by": self.started_by,
            "parameters": self.parameters,
            "min_nodes": self.min_nodes,
            "nodes": [node.to_dict() for node in self.nodes],
            "failed_nodes": [node.to_dict() for node in self.failed_nodes],
            "activation": self.activation,
        }

    @classmethod
    def from_dict(cls, data: object) -> Deployment:
        """Read a stored record; :class:`ValueError` saying what is wrong."""
        fields = _Fields(data, "record")
        version = fields.required("nxc_deployment", int)
        if version > RECORD_FORMAT:
            raise ValueError(
                f"record format {version} is newer than this nxc understands "
                f"({RECORD_FORMAT}); upgrade nxc"
            )
        if version < 1:
            raise ValueError(f"'nxc_deployment' must be {RECORD_FORMAT}, not {version}")
        raw_nodes = fields.required("nodes", list)
        nodes = [Node.from_dict(item, f"nodes[{index}]") for index, item in enumerate(raw_nodes)]
        raw_failed = fields.optional("failed_nodes", list) or []
        failed = [
            Node.from_dict(item, f"failed_nodes[{index}]") for index, item in enumerate(raw_failed)
        ]
        hostnames = [node.hostname for node in nodes + failed]
        duplicates = sorted({name for name in hostnames if hostnames.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate node hostnames: {', '.join(duplicates)}")
        try:
            return cls(
                composition=fields.required("composition", str),
                flavour=fields.required("flavour", str),
                tag=fields.optional("tag", str),
                nodes=nodes,
                manifest=fields.optional("manifest", str),
                state=fields.choice("state", DeploymentState),
                created_at=fields.time("created_at"),
                updated_at=fields.time("updated_at"),
                resources=fields.optional("resources", dict) or {},
                started_by=_identity(fields.optional("started_by", dict)),
                parameters=_parameters(fields.optional("parameters", dict) or {}),
                min_nodes=fields.optional("min_nodes", int),
                failed_nodes=failed,
                activation=_activation(fields.optional("activation", dict) or {}),
            )
        except InputError as error:
            raise ValueError(str(error)) from None


def process_identity(pid: int | None = None) -> dict[str, int]:
    """A process (default: this one) as its pid and start time, so a reused pid is not it.

    The start time is field 22 of ``/proc/<pid>/stat`` (clock ticks since boot), 0 if unknown.
    """
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "start_time": _start_time(pid) or 0}


def process_alive(identity: dict[str, int]) -> bool:
    """Whether the process :func:`process_identity` described still runs (same pid and start)."""
    current = _start_time(identity["pid"])
    if current is None:
        return False
    return identity["start_time"] in (0, current)


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return int(fields[19]) if len(fields) > 19 else None


def _parameters(data: dict[str, Any]) -> dict[str, str]:
    if not all(isinstance(value, str) for value in data.values()):
        raise ValueError("'parameters' must map each name to a string")
    return dict(data)


def _identity(data: dict[str, Any] | None) -> dict[str, int] | None:
    if data is None:
        return None
    values = {key: data.get(key) for key in ("pid", "start_time")}
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values.values()):
        raise ValueError("'started_by' must hold a 'pid' and a 'start_time' (integers)")
    return values  # type: ignore[return-value]


class _Fields:
    """Typed access to one JSON object of a record, with messages naming the field."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be a JSON object, not {_json_type(data)}")
        self.data = data
        self.where = where

    def _label(self, key: str) -> str:
        return key if self.where == "record" else f"{self.where}.{key}"

    def required(self, key: str, kind: type) -> Any:
        if key not in self.data:
            raise ValueError(f"missing key '{self._label(key)}'")
        return self._typed(key, kind)

    def optional(self, key: str, kind: type) -> Any:
        if self.data.get(key) is None:
            return None
        return self._typed(key, kind)

    def choice(self, key: str, enum: type[StrEnum]) -> Any:
        value = self.required(key, str)
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(member.value for member in enum)
            raise ValueError(
                f"'{self._label(key)}' is {value!r}, expected one of: {allowed}"
            ) from None

    def time(self, key: str) -> float:
        value = self.required(key, float)
        if not 0 <= value < _YEAR_10000:
            raise ValueError(f"'{self._label(key)}' must be a time (seconds since 1970)")
        return float(value)

    def port(self, key: str) -> int:
        value = self.optional(key, int)
        if value is None:
            return 22
        if not 1 <= value <= 65535:
            raise ValueError(f"'{self._label(key)}' is {value}, not a TCP port (1-65535)")
        return value

    def _typed(self, key: str, kind: type) -> Any:
        value = self.data[key]
        accepted: tuple[type, ...] = (int, float) if kind is float else (kind,)
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise ValueError(
                f"'{self._label(key)}' must be {_KIND_NAMES[kind]}, not {_json_type(value)}"
            )
        return value


_YEAR_10000 = 253402300800
"""Seconds since 1970 at the start of year 10000: later times cannot be shown as dates."""

_KIND_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def _json_type(value: object) -> str:
    names = {bool: "a boolean", type(None): "null", str: "a string", int: "an integer"}
    names |= {float: "a number", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def secrets_root() -> Path:
    """Where every project's deployments keep their private keys (never inside a project).

    ``$XDG_STATE_HOME/nxc/secrets``, by default ``~/.local/state/nxc/secrets``.
    """
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "nxc" / "secrets"


class DeploymentStore:
    """The records of one project's ``deploy/`` folder, their state folders and locks."""

    def __init__(self, deploy_dir: Path, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        self.deploy_dir = Path(deploy_dir)
        self.lock_timeout = lock_timeout

    @property
    def secrets_dir(self) -> Path:
        """This project's folder under :func:`secrets_root`, named after its ``deploy/`` path."""
        digest = hashlib.sha256(str(self.deploy_dir.resolve()).encode()).hexdigest()[:16]
        return secrets_root() / digest

    def secret_dir(self, name: str) -> Path:
        """The deployment's private folder (mode 0700, outside the project), created if missing."""
        parse_name(name)
        folder = self.secrets_dir / name
        try:
            for level in (secrets_root().parent, secrets_root(), self.secrets_dir, folder):
                level.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise DeploymentRecordError(
                f"cannot create {folder} for the deployment's private keys "
                f"({error.strerror or error}); set XDG_STATE_HOME to a writable folder"
            ) from None
        return folder

    def holds_secrets(self, path: Path) -> bool:
        """Whether ``path`` lies in this project's private folder (safe for nxc to remove)."""
        return self.secrets_dir.resolve() in Path(path).resolve().parents

    def remove_secrets(self) -> None:
        """Remove every private key of this project's deployments."""
        shutil.rmtree(self.secrets_dir, ignore_errors=True)

    # --- paths ---------------------------------------------------------------------------

    def path_for(self, name: str) -> Path:
        """``deploy/<name>.json`` (the name is checked first)."""
        parse_name(name)
        return self.deploy_dir / f"{name}{RECORD_SUFFIX}"

    def state_dir(self, name: str) -> Path:
        """``deploy/<name>.d/``, private to the user (mode 0700), created if missing."""
        parse_name(name)
        folder = self.deploy_dir / f"{name}{STATE_DIR_SUFFIX}"
        self._create_deploy_dir()
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError as error:
            raise self._unwritable(folder, error) from None
        return folder

    def client_key_path(self, name: str) -> Path:
        """The deployment's SSH client private key (the public key is ``<path>.pub``)."""
        return self.secret_dir(name) / "id_ed25519"

    def known_hosts_path(self, name: str) -> Path:
        """The ``known_hosts`` file pinning every node's host key."""
        return self.state_dir(name) / "known_hosts"

    def log_dir(self, name: str) -> Path:
        """Where the flavour writes per-node logs (consoles, daemons), created if missing."""
        folder = self.state_dir(name) / "logs"
        folder.mkdir(exist_ok=True)
        return folder

    def lock_path(self, name: str) -> Path:
        """``deploy/<name>.lock``, the file :meth:`lock` holds."""
        parse_name(name)
        return self.deploy_dir / f"{name}{LOCK_SUFFIX}"

    # --- records -------------------------------------------------------------------------

    def save(self, deployment: Deployment) -> None:
        """Write the record atomically, stamping ``updated_at``.

        Callers that read-modify-write hold :meth:`lock` (or use :meth:`edit`).
        """
        deployment.updated_at = time.time()
        path = self.path_for(deployment.name)
        text = json.dumps(deployment.to_dict(), indent=2) + "\n"
        self._create_deploy_dir()
        try:
            write_atomic(path, text)
        except OSError as error:
            raise self._unwritable(path, error) from None

    def exists(self, name: str) -> bool:
        """Whether a record called ``name`` exists."""
        return self.path_for(name).is_file()

    def load(self, name: str) -> Deployment:
        """Read one record; :class:`DeploymentRecordError` if missing or corrupted."""
        path = self.path_for(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none"
            raise DeploymentRecordError(
                f"no deployment {name!r} recorded in {self.deploy_dir} (recorded: {known}); "
                "see 'nxc status'"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise DeploymentRecordError(
                f"{path}: cannot read the record ({error}); {CORRUPT_RECORD_HINT}"
            ) from None
        return self._parse(path, name, text)

    def _parse(self, path: Path, name: str, text: str) -> Deployment:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DeploymentRecordError(
                f"{path}:{error.lineno}:{error.colno}: corrupted record, not valid JSON "
                f"({error.msg}); {CORRUPT_RECORD_HINT}"
            ) from None
        try:
            deployment = Deployment.from_dict(data)
        except ValueError as error:
            raise DeploymentRecordError(
                f"{path}: corrupted record: {error}; {CORRUPT_RECORD_HINT}"
            ) from None
        if deployment.name != name:
            raise DeploymentRecordError(
                f"{path}: the record describes {deployment.name!r}, not {name!r} "
                f"(renamed by hand?); {CORRUPT_RECORD_HINT}"
            )
        return deployment

    def names(self) -> list[str]:
        """Names of the recorded deployments, sorted (files not named like one are ignored)."""
        if not self.deploy_dir.is_dir():
            return []
        names = []
        for path in self.deploy_dir.glob(f"*{RECORD_SUFFIX}"):
            name = path.name.removesuffix(RECORD_SUFFIX)
            try:
                parse_name(name)
            except InputError:
                continue
            names.append(name)
        return sorted(names)

    def list(self) -> list[Deployment]:
        """Every record, oldest first (by recorded ``created_at``)."""
        deployments = [self.load(name) for name in self.names()]
        return sorted(deployments, key=lambda d: (d.created_at, d.name))

    def active(self) -> builtins.list[Deployment]:
        """Records in a state where live resources may exist (see :data:`ACTIVE_STATES`)."""
        return [deployment for deployment in self.list() if deployment.is_active]

    def latest(self, composition: str | None = None, flavour: str | None = None) -> Deployment:
        """The most recently created deployment (optionally of one composition/flavour)."""
        candidates = [
            deployment
            for deployment in self.list()
            if composition in (None, deployment.composition)
            and flavour in (None, deployment.flavour)
        ]
        if not candidates:
            which = " ".join(
                part
                for part in (
                    f"of composition {composition!r}" if composition else "",
                    f"with flavour {flavour!r}" if flavour else "",
                )
                if part
            )
            raise DeploymentRecordError(
                f"no deployment {which + ' ' if which else ''}recorded in {self.deploy_dir}; "
                "start one with 'nxc start'"
            )
        return candidates[-1]

    def remove(self, name: str) -> None:
        """Delete the record, its state folder and its lock file (under the lock)."""
        with self.lock(name):
            self.path_for(name).unlink(missing_ok=True)
            state_dir = self.deploy_dir / f"{name}{STATE_DIR_SUFFIX}"
            if state_dir.exists():
                shutil.rmtree(state_dir)
            self.lock_path(name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def edit(self, name: str) -> Iterator[Deployment]:
        """Lock, load, hand out the record, then save it (not saved if the block raises)."""
        with self.lock(name):
            deployment = self.load(name)
            yield deployment
            self.save(deployment)

    # --- locking -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the exclusive lock of deployment ``name`` (re-entrant within one thread).

        Waits up to ``timeout`` seconds (default: the store's ``lock_timeout``), then raises
        :class:`DeploymentLockedError` naming the process that holds it.
        """
        path = self.lock_path(name)
        key = os.path.realpath(path)
        held = _HELD_LOCKS.get(key)
        if held is not None and held.thread == threading.get_ident():
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
            return
        fd = self._acquire(path, self.lock_timeout if timeout is None else timeout)
        _HELD_LOCKS[key] = _HeldLock(threading.get_ident(), fd)
        try:
            yield
        finally:
            del _HELD_LOCKS[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def lock_all(self, timeout: float | None = None) -> Iterator[builtins.list[str]]:
        """Hold the lock of every deployment that has a lock file (records or not yet).

        Yields the locked names. Raises :class:`DeploymentLockedError` naming the holder if
        another nxc process works on any of them (e.g. an ``nxc start`` still running).
        """
        names = []
        if self.deploy_dir.is_dir():
            for path in self.deploy_dir.glob(f"*{LOCK_SUFFIX}"):
                name = path.name.removesuffix(LOCK_SUFFIX)
                with contextlib.suppress(InputError):
                    parse_name(name)
                    names.append(name)
        with contextlib.ExitStack() as stack:
            for name in sorted(names):
                stack.enter_context(self.lock(name, timeout))
            yield sorted(names)

    def _create_deploy_dir(self) -> None:
        try:
            self.deploy_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._unwritable(self.deploy_dir, error) from None

    def _unwritable(self, path: Path, error: OSError) -> DeploymentRecordError:
        reason = error.strerror or str(error)
        return DeploymentRecordError(
            f"{path}: cannot write deployment state ({reason}); {self.deploy_dir} must be a "
            "folder you can write to: check its permissions and free space"
        )

    def _acquire(self, path: Path, timeout: float) -> int:
        self._create_deploy_dir()
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as error:
                raise self._unwritable(path, error) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() >= deadline:
                    raise DeploymentLockedError(_locked_message(path, timeout)) from None
                time.sleep(0.01)
                continue
            if _is_current_file(fd, path):
                os.ftruncate(fd, 0)
                with contextlib.suppress(OSError):  # only informative: a full disk must not
                    os.pwrite(fd, _holder_description().encode(), 0)  # keep stop from running
                return fd
            os.close(fd)  # the lock file was removed while we waited: lock the new one


@dataclass
class _HeldLock:
    thread: int
    fd: int
    depth: int = 1


_HELD_LOCKS: dict[str, _HeldLock] = {}


def _is_current_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (opened.st_dev, opened.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _holder_description() -> str:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
    return f"pid {os.getpid()} ({command})\n"


def _locked_message(path: Path, timeout: float) -> str:
    try:
        holder = path.read_text().strip()
    except OSError:
        holder = ""
    who = holder or "another process"
    return (
        f"deployment record {path.with_suffix(RECORD_SUFFIX).name} is locked by {who} "
        f"(waited {timeout:g}s on {path}); wait for that nxc command to finish, or end it"
    )


def _activation(data: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """The record's ``activation``: role → ``activated_at``/``ready_at`` (numbers or null)."""
    checked: dict[str, dict[str, float | None]] = {}
    for role, times in data.items():
        if not isinstance(times, dict) or set(times) != {"activated_at", "ready_at"}:
            raise ValueError(f"activation.{role} must hold activated_at and ready_at")
        for key, value in times.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"activation.{role}.{key} must be a number or null")
        checked[str(role)] = dict(times)
    return checked
