"""Flavours: where the nodes of a deployment run (local VMs, containers, Grid'5000 hosts).

Use :func:`get_flavour` / :func:`flavour_class`; flavour modules are imported on demand.
"""

from __future__ import annotations

from nxc.flavours.base import (
    REGISTRY,
    Flavour,
    LiveState,
    ProgressHook,
    Stage,
    flavour_class,
    get_flavour,
)

__all__ = [
    "REGISTRY",
    "Flavour",
    "LiveState",
    "ProgressHook",
    "Stage",
    "flavour_class",
    "get_flavour",
]
