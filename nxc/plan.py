"""Planning: from a build manifest and role quantities to the list of nodes to start.

The plan is pure data: nothing is launched or written. Nodes come in a stable order: roles in
the manifest's order, and within a role its hostnames in the order they were given or numbered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from nxc.errors import InputError, RolesError
from nxc.manifest import Manifest
from nxc.roles import RoleQuantity, resolve_quantities

TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What a deployment tag may look like (it becomes part of a file name)."""


@dataclass(frozen=True)
class PlannedNode:
    """One node to start: its hostname, the role it runs, and the cluster it must be on."""

    hostname: str
    role: str
    cluster: str | None = None


@dataclass(frozen=True)
class Plan:
    """Every node of one deployment of one composition, before anything starts."""

    composition: str
    flavour: str
    nodes: tuple[PlannedNode, ...]
    tag: str | None = None

    @property
    def deployment_name(self) -> str:
        """``<composition>::<flavour>[::<tag>]``, the name of its deployment record."""
        name = f"{self.composition}::{self.flavour}"
        return f"{name}::{self.tag}" if self.tag else name

    @property
    def clusters(self) -> dict[str, str]:
        """The cluster of each role placed on one (role → cluster)."""
        return {node.role: node.cluster for node in self.nodes if node.cluster is not None}

    def hostnames_of(self, role: str) -> tuple[str, ...]:
        """The hostnames of the nodes running ``role``, in plan order."""
        return tuple(node.hostname for node in self.nodes if node.role == role)


def check_tag(tag: str) -> str:
    """Return ``tag`` if it can name a deployment; raise :class:`InputError` otherwise."""
    if not TAG_RE.fullmatch(tag):
        raise InputError.naming(
            f"{{tag}} {tag}: a tag is 1 to 64 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit; choose another tag",
            "tag",
        )
    return tag


def plan_nodes(
    manifest: Manifest,
    composition: str | None,
    *quantities: Mapping[str, RoleQuantity],
    tag: str | None = None,
) -> Plan:
    """Plan the nodes of ``composition`` (``None``: the manifest's only one).

    ``quantities`` are the requests stronger than the composition's defaults, weakest first
    (typically the roles file, then the ``-r`` options).
    """
    if tag is not None:
        check_tag(tag)
    chosen = manifest.composition(composition)
    resolved = resolve_quantities(chosen.default_counts(), *quantities, composition=chosen.name)
    nodes = tuple(
        PlannedNode(hostname=hostname, role=role, cluster=quantity.cluster)
        for role, quantity in resolved.items()
        for hostname in quantity.hostnames
    )
    if not nodes:
        raise RolesError.naming(
            f"composition '{chosen.name}' has no node to start: every role defaults to 0 nodes; "
            "ask for some with {roles} ROLE=COUNT",
            "roles",
        )
    return Plan(composition=chosen.name, flavour=manifest.flavour, nodes=nodes, tag=tag)
