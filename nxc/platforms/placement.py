"""Roles placed on Grid'5000 clusters: the OAR request that reserves them, and which host runs
which node once the job runs.

A role placed on a cluster (``-r osd=cluster:dahu:8``) asks for that many hosts of that cluster;
roles without a cluster take any host. One OAR job holds them all, through OAR's resource groups
joined by ``+``: ``{cluster='dahu'}/nodes=8+nodes=3``. OAR gives each group its own hosts, but
``assigned_network_address`` lists them without saying which group each came from, so hosts are
matched to nodes by their ``cluster`` property (``oarnodes``): placed roles first, in plan order,
then the other roles on the hosts left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nxc.errors import InputError, ResourceLimitError


@dataclass(frozen=True)
class NodePlacement:
    """A node and the cluster it must be on (``None``: any host), and its site (``None``: the
    default frontend's; see :mod:`nxc.platforms.sites`)."""

    hostname: str
    cluster: str | None
    site: str | None = None


def resource_groups(nodes: Sequence[NodePlacement], extra: str = "") -> str:
    """OAR's ``-l`` text reserving one group of hosts per cluster, then one for the others.

    ``extra`` (``walltime=1:00``) is appended after the groups. Groups keep the order in which
    their clusters first appear among ``nodes``.
    """
    counts: dict[str | None, int] = {}
    for node in nodes:
        counts[node.cluster] = counts.get(node.cluster, 0) + 1
    groups = [f"{{cluster='{name}'}}/nodes={n}" for name, n in counts.items() if name is not None]
    if None in counts:
        groups.append(f"nodes={counts[None]}")
    text = "+".join(groups)
    return f"{text},{extra}" if extra else text


def walltime_only(resources: str) -> str:
    """The user's ``--oar`` text when roles are placed: only options such as ``walltime=``.

    The host counts come from the roles, so a ``nodes=``/``host=`` part is refused in one line.
    """
    parts = [part.strip() for part in resources.split(",") if part.strip()]
    counted = [part for part in parts if not part.startswith("walltime=")]
    if counted:
        raise InputError.naming(
            f"{{oar_request}} {resources!r}: with roles placed on clusters or sites nxc writes the "
            "host request itself from the roles; give only the walltime, e.g. walltime=2:00",
            "oar_request",
        )
    return ",".join(parts)


def assign_hosts(
    nodes: Sequence[NodePlacement],
    hosts: Sequence[str],
    clusters: Mapping[str, str],
    source: str,
) -> tuple[list[str], list[str]]:
    """``(assigned, unused)``: the host of each node (in node order), and the hosts left.

    ``clusters`` gives each host's cluster (hosts missing from it are on no known cluster).
    Raises :class:`ResourceLimitError` naming the cluster that has too few hosts.
    """
    free = list(hosts)
    assigned: dict[int, str] = {}
    for index, node in enumerate(nodes):
        if node.cluster is None:
            continue
        host = next((h for h in free if clusters.get(h) == node.cluster), None)
        if host is None:
            wanted = sum(1 for n in nodes if n.cluster == node.cluster)
            have = sum(1 for h in hosts if clusters.get(h) == node.cluster)
            raise ResourceLimitError.naming(
                f"{source} gives {have} host(s) on cluster {node.cluster} but the deployment "
                f"places {wanted} node(s) there; reserve them with the roles' cluster "
                "placement ({oar_request} walltime=H:MM) or place fewer nodes on it",
                "oar_request",
            )
        free.remove(host)
        assigned[index] = host
    for index, node in enumerate(nodes):
        if node.cluster is not None:
            continue
        if not free:
            raise ResourceLimitError(
                f"{source} has no host left for {node.hostname} once the placed roles have "
                f"theirs ({len(hosts)} host(s) for {len(nodes)} node(s)); reserve more hosts"
            )
        assigned[index] = free.pop(0)
    return [assigned[index] for index in range(len(nodes))], free
