"""The flavour names nxc knows: the one list every other module checks against.

The names are those of the flavour table (:mod:`nxc.flavours.registry`, read from
``nxc/nix/flavours.json`` as the Nix library reads it). Kept free of imports beyond
:mod:`nxc.errors` and that table so that validating a name never loads a flavour's
implementation.
"""

from __future__ import annotations

from nxc.errors import ProjectError
from nxc.flavours.registry import FLAVOURS

FLAVOUR_NAMES: tuple[str, ...] = tuple(FLAVOURS)
"""Every flavour, in the order help texts list them (the order of ``nxc/nix/flavours.json``)."""


def unknown_flavour_message(name: str, source: str) -> str:
    """The one-line explanation for a flavour name that is not in :data:`FLAVOUR_NAMES`."""
    return f"{source}: unknown flavour '{name}'; use one of: {', '.join(FLAVOUR_NAMES)}"


def check_flavour_name(name: str, source: str) -> str:
    """Return ``name`` if it is a known flavour; raise :class:`ProjectError` naming ``source``.

    ``source`` says where the name came from (``"-f/--flavour"``, ``"nxc.json"``...).
    """
    if name not in FLAVOUR_NAMES:
        raise ProjectError(unknown_flavour_message(name, source))
    return name
