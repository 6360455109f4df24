"""The flavour names nxc knows: the one list every other module checks against.

Kept free of imports beyond :mod:`nxc.errors` so that validating a name never loads a flavour's
implementation.
"""

from __future__ import annotations

from nxc.errors import ProjectError

FLAVOUR_NAMES: tuple[str, ...] = (
    "vm",
    "docker",
    "g5k-ramdisk",
    "g5k-nfs-store",
    "g5k-image",
    "vm-ramdisk",
)
"""Every flavour, in the order help texts list them."""


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
