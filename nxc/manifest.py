"""The build manifest: what ``nxc build`` produced, as a typed, validated, versioned record.

The JSON form (schema version :data:`SCHEMA_VERSION`)::

    {"nxc_manifest": 1, "flavour": "vm", "system": "x86_64-linux",
     "compositions": {
       "<name>": {"roles": {"<role>": {"system": "/nix/store/...", "default_count": 1,
                                       "root_ssh_key": false, "after": ["<role>"],
                                       "readiness": {"unit": "x.service"}}},
                  "test_script": "start_all()\\n...",
                  "artefacts": {"kernel": "...", "initrd": "...", "cmdline": "...",
                                "image": "...", "containers": {"<role>": ...},
                                "role_boot": {"<role>": {"kernel": "...", "initrd": "...",
                                                         "cmdline": "..."}}}}}}

Every key is checked; an unknown key is an error (a manifest from a newer nxc says so).
``test_script`` and ``artefacts`` (and each artefact) are optional; ``default_count`` defaults
to 1, ``root_ssh_key`` (the role enables ``nxc.root-sshKeys``) to false; ``after`` (the roles
whose nodes must be ready before this role's services are activated, ``nxc.after``) to none
and ``readiness`` (``{"unit": ...}`` or ``{"command": ...}``, ``nxc.readiness``) to none: ready
once booted. ``role_boot`` holds the boot files of the roles whose kernel differs from the boot
system's (a role setting ``boot.kernelPackages``); the other roles boot the shared ones. See
``docs/roles-and-manifest.md`` and ``docs/compositions.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from nxc.errors import ManifestError
from nxc.flavours.names import FLAVOUR_NAMES, unknown_flavour_message
from nxc.roles import HOSTNAME_RE

SCHEMA_VERSION = 1
"""The manifest schema this nxc writes and reads."""

VERSION_KEY = "nxc_manifest"
_TOP_KEYS = (VERSION_KEY, "flavour", "system", "compositions")
_COMPOSITION_KEYS = ("roles", "test_script", "artefacts")
_ROLE_KEYS = ("system", "default_count", "root_ssh_key", "after", "readiness")
_CHECK_KEYS = ("unit", "command")
_ARTEFACT_PATH_KEYS = ("kernel", "initrd", "image")
_ARTEFACT_KEYS = (*_ARTEFACT_PATH_KEYS, "cmdline", "containers", "role_boot")
_ROLE_BOOT_KEYS = ("kernel", "initrd", "cmdline")
_SYSTEM_RE = re.compile(r"[a-z0-9_]+-[a-z0-9_]+")
_COMPOSITION_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_REBUILD = "rebuild it with 'nxc build'"


@dataclass(frozen=True)
class RoleCheck:
    """How nxc tells that a node of a role is ready (``nxc.readiness``): exactly one of a
    systemd ``unit`` that must be active, or a shell ``command`` that must exit 0."""

    unit: str | None = None
    command: str | None = None

    def __post_init__(self) -> None:
        if (self.unit is None) == (self.command is None):
            raise ManifestError(
                "a role's readiness check is a unit or a command, exactly one of the two; "
                "set nxc.readiness.unit or nxc.readiness.command, not both"
            )

    def describe(self) -> str:
        """The check in a few words, for messages: ``unit x.service`` or ``command 'cmd'``."""
        return f"unit {self.unit}" if self.unit is not None else f"command {self.command!r}"

    def to_dict(self) -> dict[str, str]:
        """The manifest's form: ``{"unit": ...}`` or ``{"command": ...}``."""
        return {"unit": self.unit} if self.unit is not None else {"command": str(self.command)}


@dataclass(frozen=True)
class Role:
    """One role of a composition: the NixOS system its nodes run, and how many by default."""

    name: str
    system: str
    default_count: int = 1
    root_ssh_key: bool = False
    """Whether the role's nodes want the deployment's root SSH key (``nxc.root-sshKeys``)."""
    after: tuple[str, ...] = ()
    """The roles whose nodes must all be ready before this role is activated (``nxc.after``)."""
    readiness: RoleCheck | None = None
    """When a node of this role is ready (``nxc.readiness``); ``None``: once it has booted."""


@dataclass(frozen=True)
class RoleBoot:
    """The boot files of one role whose kernel is its own: kernel, initrd, base command line."""

    kernel: str
    initrd: str
    cmdline: str

    def to_dict(self) -> dict[str, str]:
        """The manifest's form."""
        return {"kernel": self.kernel, "initrd": self.initrd, "cmdline": self.cmdline}


@dataclass(frozen=True)
class Artefacts:
    """What a flavour boots from; which ones are present depends on the flavour.

    ``kernel``/``initrd``/``cmdline`` serve vm and the g5k kexec flavours, ``image`` the g5k-image
    flavour (and an optional vm disk), ``containers`` the docker flavour (role -> its container
    description, a store path or a JSON object, as the docker flavour defines it), ``role_boot``
    the all-in-one flavours' roles with a kernel of their own (role -> :class:`RoleBoot`).
    """

    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    image: str | None = None
    containers: Mapping[str, Any] | None = None
    role_boot: Mapping[str, RoleBoot] | None = None

    def require(self, *names: str, flavour: str, source: str) -> None:
        """Raise :class:`ManifestError` unless every artefact in ``names`` is present."""
        missing = [name for name in names if getattr(self, name) is None]
        if missing:
            raise ManifestError(
                f"{source}: no {', '.join(missing)} artefact for flavour {flavour}; "
                f"{_REBUILD} -f {flavour}"
            )


@dataclass(frozen=True)
class Composition:
    """One composition of the manifest: its roles (in order), test script and artefacts.

    ``test_script`` is the text of the Python test script (empty or ``None``: none).
    """

    name: str
    roles: tuple[Role, ...]
    test_script: str | None = None
    artefacts: Artefacts = field(default_factory=Artefacts)

    def role_names(self) -> tuple[str, ...]:
        """The roles, in the manifest's order."""
        return tuple(role.name for role in self.roles)

    def default_counts(self) -> dict[str, int]:
        """Role name -> default number of nodes, in the manifest's order."""
        return {role.name: role.default_count for role in self.roles}

    def activation_levels(self) -> list[list[str]]:
        """The roles in activation order, grouped in levels: a level's roles wait only for
        roles of earlier levels (see :func:`dependency_levels`)."""
        return dependency_levels(
            {role.name: role.after for role in self.roles}, f"composition '{self.name}'"
        )

    def boot_files(self, role: str) -> tuple[str, str, str]:
        """Kernel, initrd and base command line the nodes of ``role`` boot: the role's own
        (``role_boot``) or the shared ones ('' for a shared one the manifest lacks)."""
        own = (self.artefacts.role_boot or {}).get(role)
        if own is not None:
            return own.kernel, own.initrd, own.cmdline
        shared = self.artefacts
        return shared.kernel or "", shared.initrd or "", shared.cmdline or ""

    @property
    def wants_root_ssh_key(self) -> bool:
        """Whether a role enables ``nxc.root-sshKeys`` (the deployment then gets a root key)."""
        return any(role.root_ssh_key for role in self.roles)


@dataclass(frozen=True)
class Manifest:
    """A whole build manifest: one flavour, one system, one or more compositions."""

    flavour: str
    system: str
    compositions: tuple[Composition, ...]
    source: str = field(default="build manifest", compare=False)
    """Where it was read from, for messages."""

    def composition(self, name: str | None = None) -> Composition:
        """The composition called ``name``; with no name, the only one (or one called
        ``composition``, the name NixOS-Compose gives a single composition)."""
        names = [composition.name for composition in self.compositions]
        if name is None:
            if len(self.compositions) == 1:
                return self.compositions[0]
            if "composition" in names:
                return self.compositions[names.index("composition")]
            raise ManifestError(
                f"{self.source}: holds several compositions ({', '.join(names)}); "
                "choose one with -c/--composition"
            )
        if name not in names:
            raise ManifestError(
                f"{self.source}: no composition '{name}'; it holds: {', '.join(names)}"
            )
        return self.compositions[names.index(name)]


def dependency_levels(after: Mapping[str, Sequence[str]], where: str) -> list[list[str]]:
    """Group the roles of ``after`` (role -> the roles it waits for) in levels: level 0 waits
    for nothing, each later level only for roles of the levels before it; roles keep the order
    of ``after`` within a level.

    An unknown role or a cycle is a :class:`ManifestError` naming ``where`` and the roles.
    """
    for role, needs in after.items():
        unknown = [need for need in needs if need not in after]
        if unknown:
            raise ManifestError(
                f"{where}: role '{role}' waits for unknown role{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(name) for name in unknown)} (roles: {', '.join(after)}); "
                "fix its nxc.after and rebuild it with 'nxc build'"
            )
    levels: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(after):
        level = [
            role
            for role, needs in after.items()
            if role not in placed and all(need in placed for need in needs)
        ]
        if not level:
            raise ManifestError(
                f"{where}: roles wait for each other in a cycle "
                f"({_cycle(after, placed)}) through nxc.after; remove one of these "
                "dependencies and rebuild it with 'nxc build'"
            )
        levels.append(level)
        placed.update(level)
    return levels


def _cycle(after: Mapping[str, Sequence[str]], placed: set[str]) -> str:
    """One cycle among the roles not ``placed`` (each still waits for one of them), as
    ``a -> b -> a``."""
    path = [next(role for role in after if role not in placed)]
    while True:
        following = next(need for need in after[path[-1]] if need not in placed)
        if following in path:
            cycle = [*path[path.index(following) :], following]
            return " -> ".join(cycle)
        path.append(following)


def load(path: Path) -> Manifest:
    """Read and validate the manifest at ``path``."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{source}: build manifest not found; {_REBUILD} or fix the path"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not text"
        raise ManifestError(f"{source}: cannot read the build manifest ({reason})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(
            f"{source}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            f"{_REBUILD}"
        ) from None
    return from_dict(data, source)


def from_dict(data: Any, source: str = "build manifest") -> Manifest:
    """Validate ``data`` (parsed JSON) and return the :class:`Manifest` it describes."""
    if not isinstance(data, Mapping):
        raise ManifestError(f"{source}: a build manifest is a JSON object; {_REBUILD}")
    _check_version(data, source)
    _check_keys(data, _TOP_KEYS, source, "at the top level")
    flavour = _required(data, "flavour", str, source)
    if flavour not in FLAVOUR_NAMES:
        raise ManifestError(unknown_flavour_message(flavour, f"{source}: 'flavour'"))
    system = _required(data, "system", str, source)
    if not _SYSTEM_RE.fullmatch(system):
        raise ManifestError(
            f"{source}: 'system' is '{system}', not a Nix system like 'x86_64-linux'; {_REBUILD}"
        )
    compositions_data = _required(data, "compositions", Mapping, source)
    if not compositions_data:
        raise ManifestError(f"{source}: 'compositions' is empty; {_REBUILD}")
    compositions = tuple(
        _composition_from_dict(name, value, source) for name, value in compositions_data.items()
    )
    return Manifest(flavour=flavour, system=system, compositions=compositions, source=source)


def to_dict(manifest: Manifest) -> dict[str, Any]:
    """The JSON-ready form of ``manifest`` (what :func:`from_dict` reads back)."""
    return {
        VERSION_KEY: SCHEMA_VERSION,
        "flavour": manifest.flavour,
        "system": manifest.system,
        "compositions": {
            composition.name: _composition_to_dict(composition)
            for composition in manifest.compositions
        },
    }


def _composition_to_dict(composition: Composition) -> dict[str, Any]:
    result: dict[str, Any] = {
        "roles": {role.name: _role_to_dict(role) for role in composition.roles}
    }
    if composition.test_script is not None:
        result["test_script"] = composition.test_script
    artefacts = {
        name: getattr(composition.artefacts, name)
        for name in _ARTEFACT_KEYS
        if getattr(composition.artefacts, name) is not None
    }
    if "containers" in artefacts:
        artefacts["containers"] = json.loads(json.dumps(dict(artefacts["containers"])))
    if "role_boot" in artefacts:
        artefacts["role_boot"] = {
            role: boot.to_dict() for role, boot in artefacts["role_boot"].items()
        }
    if artefacts:
        result["artefacts"] = artefacts
    return result


def _role_to_dict(role: Role) -> dict[str, Any]:
    result: dict[str, Any] = {"system": role.system, "default_count": role.default_count}
    if role.root_ssh_key:
        result["root_ssh_key"] = True
    if role.after:
        result["after"] = list(role.after)
    if role.readiness is not None:
        result["readiness"] = role.readiness.to_dict()
    return result


def _check_version(data: Mapping[str, Any], source: str) -> None:
    if VERSION_KEY not in data:
        if "nodes" in data or "compositions_info" in data:
            raise ManifestError(
                f"{source}: this is a NixOS-Compose build result, not an nxc build manifest; "
                f"{_REBUILD}"
            )
        raise ManifestError(f"{source}: not an nxc build manifest (no '{VERSION_KEY}' key)")
    version = data[VERSION_KEY]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ManifestError(
            f"{source}: '{VERSION_KEY}' must be a schema version number, got {version!r}; "
            f"{_REBUILD}"
        )
    if version > SCHEMA_VERSION:
        raise ManifestError(
            f"{source}: built by a newer nxc (manifest schema {version}, this nxc reads up to "
            f"{SCHEMA_VERSION}); upgrade nxc"
        )


def _composition_from_dict(name: Any, data: Any, source: str) -> Composition:
    where = f"{source}: composition '{name}'"
    if not isinstance(name, str) or not _COMPOSITION_NAME_RE.fullmatch(name) or "::" in name:
        raise ManifestError(
            f"{source}: '{name}' is not a composition name (letters, digits, '_', '.', '+', "
            f"'-'); {_REBUILD}"
        )
    if not isinstance(data, Mapping):
        raise ManifestError(f"{where}: must be a JSON object; {_REBUILD}")
    _check_keys(data, _COMPOSITION_KEYS, where, "")
    roles_data = _required(data, "roles", Mapping, where)
    if not roles_data:
        raise ManifestError(f"{where}: declares no roles; add at least one role and rebuild")
    roles = tuple(_role_from_dict(role, value, where) for role, value in roles_data.items())
    dependency_levels({role.name: role.after for role in roles}, where)
    test_script = _optional(data, "test_script", str, where)
    artefacts = _artefacts_from_dict(data.get("artefacts", {}), where)
    unknown = [role for role in artefacts.role_boot or {} if role not in roles_data]
    if unknown:
        raise ManifestError(
            f"{where}, artefacts: 'role_boot' names unknown role"
            f"{'s' if len(unknown) > 1 else ''} {', '.join(repr(r) for r in unknown)}; {_REBUILD}"
        )
    return Composition(name=name, roles=roles, test_script=test_script, artefacts=artefacts)


def _role_from_dict(name: Any, data: Any, where: str) -> Role:
    if not isinstance(name, str) or not HOSTNAME_RE.fullmatch(name):
        raise ManifestError(
            f"{where}: role '{name}' cannot be a hostname (letters, digits, '-' and '_', 1 to 63 "
            "characters, starting and ending with a letter or digit); rename the role"
        )
    role_where = f"{where}, role '{name}'"
    if not isinstance(data, Mapping):
        raise ManifestError(f"{role_where}: must be a JSON object; {_REBUILD}")
    _check_keys(data, _ROLE_KEYS, role_where, "")
    system = _required(data, "system", str, role_where)
    if not system.startswith("/"):
        raise ManifestError(
            f"{role_where}: 'system' must be an absolute store path, got '{system}'; {_REBUILD}"
        )
    count = data.get("default_count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ManifestError(
            f"{role_where}: 'default_count' must be a whole number >= 0, got {count!r}; {_REBUILD}"
        )
    root_ssh_key = data.get("root_ssh_key", False)
    if not isinstance(root_ssh_key, bool):
        raise ManifestError(
            f"{role_where}: 'root_ssh_key' must be true or false, got {root_ssh_key!r}; {_REBUILD}"
        )
    return Role(
        name=name,
        system=system,
        default_count=count,
        root_ssh_key=root_ssh_key,
        after=_after_from_dict(data.get("after", []), role_where),
        readiness=_check_from_dict(data.get("readiness"), role_where),
    )


def _after_from_dict(data: Any, where: str) -> tuple[str, ...]:
    if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
        raise ManifestError(
            f"{where}: 'after' must be a list of role names, got {data!r}; {_REBUILD}"
        )
    return tuple(data)


def _check_from_dict(data: Any, where: str) -> RoleCheck | None:
    if data is None:
        return None
    where = f"{where}, readiness"
    if not isinstance(data, Mapping):
        raise ManifestError(
            f'{where}: must be a JSON object ({{"unit": ...}} or {{"command": ...}}); {_REBUILD}'
        )
    _check_keys(data, _CHECK_KEYS, where, "")
    if len(data) != 1:
        raise ManifestError(
            f"{where}: holds {'both a unit and a command' if data else 'neither a unit nor a command'}"
            f"; set exactly one of nxc.readiness.unit and nxc.readiness.command and {_REBUILD}"
        )
    ((key, value),) = data.items()
    if not isinstance(value, str) or not value.strip():
        raise ManifestError(f"{where}: '{key}' must be non-empty text, got {value!r}; {_REBUILD}")
    return RoleCheck(**{key: value})


def _artefacts_from_dict(data: Any, where: str) -> Artefacts:
    where = f"{where}, artefacts"
    if not isinstance(data, Mapping):
        raise ManifestError(f"{where}: must be a JSON object; {_REBUILD}")
    _check_keys(data, _ARTEFACT_KEYS, where, "")
    values = {name: _optional(data, name, str, where) for name in (*_ARTEFACT_PATH_KEYS, "cmdline")}
    for name in _ARTEFACT_PATH_KEYS:
        if values[name] is not None and not values[name].startswith("/"):
            raise ManifestError(f"{where}: '{name}' must be an absolute path; {_REBUILD}")
    containers = _optional(data, "containers", Mapping, where)
    if containers is not None:
        containers = MappingProxyType(json.loads(json.dumps(containers)))
    role_boot = _optional(data, "role_boot", Mapping, where)
    if role_boot is not None:
        role_boot = MappingProxyType(
            {
                role: _role_boot_from_dict(boot, f"{where}, role_boot '{role}'")
                for role, boot in role_boot.items()
            }
        )
    return Artefacts(**values, containers=containers, role_boot=role_boot)


def _role_boot_from_dict(data: Any, where: str) -> RoleBoot:
    if not isinstance(data, Mapping):
        raise ManifestError(f"{where}: must be a JSON object; {_REBUILD}")
    _check_keys(data, _ROLE_BOOT_KEYS, where, "")
    values = {name: _required(data, name, str, where) for name in _ROLE_BOOT_KEYS}
    for name in ("kernel", "initrd"):
        if not values[name].startswith("/"):
            raise ManifestError(f"{where}: '{name}' must be an absolute path; {_REBUILD}")
    return RoleBoot(**values)


def _check_keys(data: Mapping[str, Any], known: tuple[str, ...], where: str, place: str) -> None:
    unknown = [str(key) for key in data if key not in known]
    if unknown:
        place = f" {place}" if place else ""
        raise ManifestError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(key) for key in unknown)}{place} (known: {', '.join(known)}); "
            "if a newer nxc built it, upgrade nxc, else fix the file"
        )


def _required(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ManifestError(f"{where}: missing '{key}'; {_REBUILD}")
    return _optional(data, key, kind, where)


def _optional(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = data.get(key)
    if value is not None and not isinstance(value, kind):
        expected = "a JSON object" if kind is Mapping else "text"
        raise ManifestError(f"{where}: '{key}' must be {expected}; {_REBUILD}")
    return value
