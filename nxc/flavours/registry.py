"""The one table of flavours, shared with the Nix library: ``nxc/nix/flavours.json``.

Each entry says, for Nix, what a build of the flavour produces (``description``, ``produces``,
``all_in_one``) and, for Python, where the flavour's class lives (``implementation``,
``module:Class``, imported only when asked for) and which groups of ``nxc start`` options it
takes (``options``, a subset of :data:`OPTION_GROUPS`). A flavour the Nix library builds but
this Python side cannot deploy has no ``implementation``.

Kept free of imports beyond :mod:`nxc.errors` so that validating a name never loads a
flavour's implementation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nxc.errors import ProjectError

TABLE = Path(__file__).resolve().parent.parent / "nix" / "flavours.json"
"""The file both Nix (``nxc/nix/flavours.nix``) and Python read."""

OPTION_GROUPS: dict[str, str] = {
    "qemu": "the QEMU machine's options (acceleration, memory, CPUs, forwards, disk, QEMU's own)",
    "kernel_params": "extra kernel parameters (the flavour boots a kernel of its own)",
    "hosts": "physical hosts from OAR or a machine file, reached over OpenSSH, deploy retries",
    "nfs_server": "the NFS server the nodes mount the store from",
}
"""The option groups a flavour may take, and what each stands for."""


@dataclass(frozen=True)
class FlavourEntry:
    """One flavour of the table."""

    name: str
    description: str
    implementation: str | None
    """``module:Class`` of the Python flavour; None if this nxc cannot deploy it."""
    options: frozenset[str]
    """The option groups (keys of :data:`OPTION_GROUPS`) the flavour takes."""


def _entry(name: str, raw: object) -> FlavourEntry:
    where = f"{TABLE}: flavour '{name}'"
    if not isinstance(raw, dict):
        raise ProjectError(f"{where} is not an object; reinstall nxc") from None
    implementation = raw.get("implementation")
    if implementation is not None and (
        not isinstance(implementation, str) or implementation.count(":") != 1
    ):
        raise ProjectError(
            f"{where}: implementation must be 'module:Class'; reinstall nxc"
        ) from None
    options = raw.get("options", [])
    unknown = set(options) - set(OPTION_GROUPS) if isinstance(options, list) else {options}
    if unknown:
        raise ProjectError(
            f"{where}: unknown option groups {sorted(map(str, unknown))}; "
            f"known: {', '.join(OPTION_GROUPS)}"
        )
    return FlavourEntry(
        name=name,
        description=str(raw.get("description", "")),
        implementation=implementation,
        options=frozenset(options),
    )


def _load() -> dict[str, FlavourEntry]:
    try:
        table = json.loads(TABLE.read_text())
    except (OSError, ValueError) as error:
        raise ProjectError(
            f"{TABLE}: can't read the flavour table ({error}); reinstall nxc"
        ) from None
    if not isinstance(table, dict):
        raise ProjectError(f"{TABLE}: not an object of flavours; reinstall nxc") from None
    return {name: _entry(name, raw) for name, raw in table.items()}


FLAVOURS: dict[str, FlavourEntry] = _load()
"""Every flavour, by name, in the table's order (the order help texts list them)."""


def taking(group: str) -> tuple[str, ...]:
    """The flavours that take option group ``group``, in the table's order."""
    return tuple(name for name, entry in FLAVOURS.items() if group in entry.options)


def takes(name: str, group: str) -> bool:
    """Whether flavour ``name`` takes option group ``group`` (False for a flavour not listed)."""
    entry = FLAVOURS.get(name)
    return entry is not None and group in entry.options
