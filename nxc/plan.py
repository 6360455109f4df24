"""Planning: from a build manifest and role quantities to the list of nodes to start.

The plan is pure data: nothing is launched or written. Nodes come in a stable order: roles in
the manifest's order, and within a role its hostnames in the order they were given or numbered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nxc.errors import InputError, RolesError
from nxc.manifest import Manifest
from nxc.roles import RoleQuantity, numbered_hostnames, resolve_quantities

TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
"""What a deployment tag may look like (it becomes part of a file name)."""
PARAMETER_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
"""What a deployment parameter's name may look like (the nodes read it with ``jq``)."""


@dataclass(frozen=True)
class PlannedNode:
    """One node to start: its hostname, the role it runs, and the cluster and site it must be
    on (``None``: any cluster; the default frontend's site)."""

    hostname: str
    role: str
    cluster: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class Plan:
    """Every node of one deployment of one composition, before anything starts."""

    composition: str
    flavour: str
    nodes: tuple[PlannedNode, ...]
    tag: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    """Deployment parameters handed to every node as the deployment info's ``parameters``."""
    min_nodes: int | None = None
    """With fewer nodes ready than planned, start goes on if at least this many are."""

    @property
    def deployment_name(self) -> str:
        """``<composition>::<flavour>[::<tag>]``, the name of its deployment record."""
        name = f"{self.composition}::{self.flavour}"
        return f"{name}::{self.tag}" if self.tag else name

    @property
    def clusters(self) -> dict[str, str]:
        """The cluster of each role placed on one (role → cluster)."""
        return {node.role: node.cluster for node in self.nodes if node.cluster is not None}

    @property
    def sites(self) -> dict[str, str]:
        """The site of each role placed on one (role → site)."""
        return {node.role: node.site for node in self.nodes if node.site is not None}

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


def parse_parameters(specs: Iterable[str]) -> dict[str, str]:
    """Read ``KEY=VALUE`` deployment parameters (``-p gluster_volume=replica:3``); a key given
    twice keeps its last value. :class:`InputError` in one line for a malformed one."""
    parameters: dict[str, str] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        if not sep or not PARAMETER_KEY_RE.fullmatch(key):
            raise InputError.naming(
                f"{{parameters}} {spec!r} is not KEY=VALUE with KEY made of letters, digits and "
                "'_' (not starting with a digit); e.g. gluster_volume=replica:3",
                "parameters",
            )
        parameters[key] = value
    return parameters


def min_nodes_of(spec: str, planned: int) -> int:
    """The node count ``--min-nodes`` means for ``planned`` nodes: ``N`` or a fraction
    (``0.9``, ``90%``, rounded up). :class:`InputError` unless it is between 1 and ``planned``."""
    text = spec.strip()
    try:
        if text.endswith("%"):
            count = math.ceil(float(text[:-1]) / 100 * planned - 1e-9)
        elif "." in text:
            count = math.ceil(float(text) * planned - 1e-9)
        else:
            count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= planned:
        raise InputError.naming(
            f"{{min_nodes}} {spec!r} must be a node count from 1 to {planned} or a fraction "
            "of the planned nodes (0.9 or 90%)",
            "min_nodes",
        )
    return count


def plan_nodes(
    manifest: Manifest,
    composition: str | None,
    *quantities: Mapping[str, RoleQuantity],
    tag: str | None = None,
    parameters: Mapping[str, str] | None = None,
    min_nodes: str | None = None,
) -> Plan:
    """Plan the nodes of ``composition`` (``None``: the manifest's only one).

    ``quantities`` are the requests stronger than the composition's defaults, weakest first
    (typically the roles file, then the ``-r`` options); ``parameters`` reach every node in
    its deployment info (checked as :func:`parse_parameters` checks them); ``min_nodes``
    (:func:`min_nodes_of`) lets start go on without nodes that failed.
    """
    if tag is not None:
        check_tag(tag)
    checked = parse_parameters(f"{key}={value}" for key, value in (parameters or {}).items())
    chosen = manifest.composition(composition)
    resolved = resolve_quantities(chosen.default_counts(), *quantities, composition=chosen.name)
    nodes = tuple(
        PlannedNode(hostname=hostname, role=role, cluster=quantity.cluster, site=quantity.site)
        for role, quantity in resolved.items()
        for hostname in quantity.hostnames
    )
    if not nodes:
        raise RolesError.naming(
            f"composition '{chosen.name}' has no node to start: every role defaults to 0 nodes; "
            "ask for some with {roles} ROLE=COUNT",
            "roles",
        )
    return Plan(
        composition=chosen.name,
        flavour=manifest.flavour,
        nodes=nodes,
        tag=tag,
        parameters=checked,
        min_nodes=None if min_nodes is None else min_nodes_of(min_nodes, len(nodes)),
    )


def plan_added_nodes(
    manifest: Manifest,
    composition: str,
    taken: Iterable[str],
    *quantities: Mapping[str, RoleQuantity],
) -> tuple[PlannedNode, ...]:
    """The nodes that ``nxc start --add`` adds to a deployment of ``composition`` whose nodes
    (failed ones included) already use the hostnames ``taken``.

    ``quantities`` are as for :func:`plan_nodes` but count the nodes to add, not the total:
    numbered hostnames (``-r node=2``) go on from the highest number a role already has
    (``node`` counts as 1), listed ones (``-r node=big1,big2``) are kept and must be free.
    """
    chosen = manifest.composition(composition)
    merged: dict[str, RoleQuantity] = {}
    for given in quantities:
        merged.update(given)
    if not merged:
        raise RolesError.naming(
            "adding nodes needs how many: give {roles} ROLE=COUNT (or a roles file)", "roles"
        )
    resolve_quantities(dict.fromkeys(chosen.role_names(), 0), merged, composition=chosen.name)
    used = set(taken)
    added: list[PlannedNode] = []
    for role in chosen.role_names():
        quantity = merged.get(role)
        if quantity is None:
            continue
        hostnames = quantity.hostnames
        if hostnames == numbered_hostnames(role, quantity.count, quantity.source):
            first = _highest_number(role, used) + 1
            hostnames = numbered_hostnames(role, first + quantity.count - 1, quantity.source)
            hostnames = hostnames[first - 1 :]
        clashing = sorted(used.intersection(hostnames))
        if clashing:
            raise RolesError(
                f"{quantity.source}: {', '.join(clashing)} already in the deployment; give "
                "other hostnames, or a count to number them after the existing ones"
            )
        used.update(hostnames)
        added.extend(
            PlannedNode(hostname, role, quantity.cluster, quantity.site) for hostname in hostnames
        )
    if not added:
        raise RolesError(f"no node to add to {chosen.name}: every count given is 0")
    return tuple(added)


def _highest_number(role: str, hostnames: Iterable[str]) -> int:
    """The highest ``N`` of the ``<role>N`` hostnames (the bare ``<role>`` is 1; none: 0)."""
    numbered = re.compile(rf"{re.escape(role)}([0-9]+)")
    highest = 0
    for hostname in hostnames:
        if hostname == role:
            highest = max(highest, 1)
        elif match := numbered.fullmatch(hostname):
            highest = max(highest, int(match[1]))
    return highest
