"""Typed sections of a deployment record: what a flavour keeps in ``resources`` and
``Node.extra``, declared as dataclasses and read back with their types checked.

A record stores each section as a JSON object. A flavour declares it once::

    @dataclass
    class VmResources(CommonResources):
        ports: list[int] = field(default_factory=list)
        switch: SwitchFacts | None = None

and reads and writes it through :func:`resources_of` (or :meth:`Section.from_record`) and
:meth:`Section.to_record`::

    resources = resources_of(VmResources, deployment)
    resources.ports.append(port)
    deployment.resources = resources.to_record()

:func:`node_facts_of` does the same for one node's ``Node.extra``.

Reading checks every declared key against its type and says which one is wrong
(:class:`ValueError`, which the record store reports as a corrupt record). Keys a section does
not declare (a section of another flavour, a newer nxc's) are kept as they were and written
back unchanged, so a section read through a narrower class — :class:`CommonResources`, which
the driver and ``stop`` use — never loses the flavour's part. Each section is versioned by its
``section_format`` key, absent in records written before sections had one (format 1).

Supported field types: ``str``, ``int``, ``float``, ``bool``, :class:`~pathlib.Path` (stored as
a string), ``list[T]``, ``tuple[T, ...]`` and fixed ``tuple[A, B]`` (stored as lists),
``dict[str, T]``, nested :class:`Section` classes, ``T | None`` and ``Any`` (any JSON value).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from nxc.errors import DeploymentRecordError

if TYPE_CHECKING:
    from nxc.deployment import Deployment, Node

SECTION_FORMAT_KEY = "section_format"


@dataclass
class Section:
    """A typed JSON object of a record; subclasses are dataclasses with defaults everywhere."""

    section_format: ClassVar[int] = 1
    """The newest format of this section this nxc writes and reads."""
    reads_every_format: ClassVar[bool] = False
    """Set on a class reading a few stable keys of sections it does not own (the common part,
    another deployment's subnet): it reads them whatever the section's format. Not
    inherited: a subclass owning more keys checks the format again."""

    _unknown: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Keys of the stored object this class does not declare, written back unchanged."""

    @classmethod
    def from_record(cls, data: object, where: str = "resources") -> Self:
        """The section stored as ``data``; :class:`ValueError` naming the key that is wrong."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"'{where}' must be a JSON object, not {_json_type(data)}")
        stored_format = data.get(SECTION_FORMAT_KEY, 1)
        if isinstance(stored_format, bool) or not isinstance(stored_format, int):
            raise ValueError(f"'{where}.{SECTION_FORMAT_KEY}' must be an integer")
        if stored_format > cls.section_format and not cls.__dict__.get("reads_every_format"):
            raise ValueError(
                f"'{where}' has format {stored_format}, newer than this nxc reads "
                f"({cls.section_format}); upgrade nxc"
            )
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        declared = set()
        for item in _fields(cls):
            declared.add(item.name)
            if item.name in data and data[item.name] is not None:
                values[item.name] = _read(data[item.name], hints[item.name], f"{where}.{item.name}")
        unknown = {
            key: value
            for key, value in data.items()
            if key not in declared and key != SECTION_FORMAT_KEY
        }
        return cls(**values, _unknown=unknown)

    def to_record(self) -> dict[str, Any]:
        """The section as it is stored: JSON values only, unknown keys kept, ``None`` left out."""
        stored: dict[str, Any] = dict(self._unknown)
        for item in _fields(type(self)):
            value = getattr(self, item.name)
            if value is not None:
                stored[item.name] = _write(value)
        if self.section_format > 1:
            stored[SECTION_FORMAT_KEY] = self.section_format
        return stored


@dataclass
class CommonResources(Section):
    """What every flavour may record and the driver and ``stop`` read without knowing it.

    These keys keep their meaning in every format of every flavour's section."""

    reads_every_format: ClassVar[bool] = True

    marker: str | None = None
    """The token on every process nxc started for the deployment (see
    :mod:`nxc.flavours.common.processes`): only processes carrying it are ever killed."""
    run_dir: Path | None = None
    """The deployment's folder of sockets and logs outside the project (under ``/tmp``)."""
    secret_dir: Path | None = None
    """The deployment's folder of private keys (under :func:`nxc.deployment.secrets_root`)."""
    shared_dir: Path | None = None
    """The folder this machine shares with the nodes (the driver copies files through it)."""


SectionT = TypeVar("SectionT", bound=Section)


def resources_of(kind: type[SectionT], deployment: Deployment) -> SectionT:
    """``deployment.resources`` as ``kind``; :class:`DeploymentRecordError` naming the record
    and the key when the stored value does not fit."""
    try:
        return kind.from_record(deployment.resources, "resources")
    except ValueError as error:
        raise DeploymentRecordError(_corrupt(deployment, error)) from None


def node_facts_of(kind: type[SectionT], deployment: Deployment, node: Node) -> SectionT:
    """``node.extra`` as ``kind`` (the flavour's facts of one node of ``deployment``);
    :class:`DeploymentRecordError` naming the record, node and key when they do not fit."""
    try:
        return kind.from_record(node.extra, f"nodes[{node.hostname}].extra")
    except ValueError as error:
        raise DeploymentRecordError(_corrupt(deployment, error)) from None


def _corrupt(deployment: Deployment, error: ValueError) -> str:
    from nxc.deployment import CORRUPT_RECORD_HINT

    return f"deployment record {deployment.name}: {error}; {CORRUPT_RECORD_HINT}"


def _fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [item for item in dataclasses.fields(cls) if item.name != "_unknown"]


def _read(value: Any, kind: Any, where: str) -> Any:
    """``value`` from JSON as ``kind``, or :class:`ValueError` saying what ``where`` must be."""
    origin = typing.get_origin(kind)
    arguments = typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = [argument for argument in arguments if argument is not type(None)]
        if len(options) != 1:
            raise TypeError(f"{where}: only 'T | None' unions are supported")
        return _read(value, options[0], where)
    if isinstance(kind, type) and issubclass(kind, Section):
        return kind.from_record(value, where)
    if kind is Path:
        return Path(_scalar(value, str, where))
    if kind in (str, int, float, bool):
        return _scalar(value, kind, where)
    if origin is list:
        return [
            _read(item, arguments[0], f"{where}[{i}]") for i, item in enumerate(_list(value, where))
        ]
    if origin is tuple:
        items = _list(value, where)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(_read(item, arguments[0], f"{where}[{i}]") for i, item in enumerate(items))
        if len(items) != len(arguments):
            raise ValueError(f"'{where}' must be a list of {len(arguments)} items")
        return tuple(
            _read(item, argument, f"{where}[{i}]")
            for i, (item, argument) in enumerate(zip(items, arguments, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"'{where}' must be a JSON object, not {_json_type(value)}")
        return {key: _read(item, arguments[1], f"{where}.{key}") for key, item in value.items()}
    raise TypeError(f"{where}: unsupported section field type {kind!r}")


def _scalar(value: Any, kind: type, where: str) -> Any:
    accepted: tuple[type, ...] = (int, float) if kind is float else (kind,)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepted):
        raise ValueError(f"'{where}' must be {_KIND_NAMES[kind]}, not {_json_type(value)}")
    return float(value) if isinstance(value, int | float) and kind is float else value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"'{where}' must be a list, not {_json_type(value)}")
    return value


def _write(value: Any) -> Any:
    if isinstance(value, Section):
        return value.to_record()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_write(item) for item in value]
    if isinstance(value, dict):
        return {key: _write(item) for key, item in value.items()}
    return value


_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
