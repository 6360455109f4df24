"""The Python API for experiment scripts and execo engines: open a running deployment, pick
nodes by role, run commands on groups of them.

    import nxc

    with nxc.open_deployment() as env:          # the project's latest deployment
        env.run("uptime", roles=["server"]).check()
        for node in env.nodes("client"):
            print(node.hostname, node.address)

The same deployment can be driven with execo: :meth:`Environment.execo_hosts` and
:meth:`Environment.execo_connection_params` give what ``execo.Remote`` needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.fanout import GroupResult
    from nxc.transport.base import Transport


class Environment:
    """A running deployment seen from Python; close it (or use ``with``) when done."""

    def __init__(self, deployment: Deployment, store: DeploymentStore) -> None:
        self.deployment = deployment
        self.store = store
        self._transport: Transport | None = None

    @property
    def name(self) -> str:
        """The deployment's name, ``composition::flavour[::tag]``."""
        return self.deployment.name

    def nodes(self, *roles: str) -> list[Node]:
        """The nodes of ``roles`` (all nodes when none is given), in deployment order."""
        from nxc.fanout import select_nodes

        return select_nodes(self.deployment.nodes, list(roles), [])

    def hostnames(self, *roles: str) -> list[str]:
        """Hostnames of the nodes of ``roles`` (all when none is given)."""
        return [node.hostname for node in self.nodes(*roles)]

    @property
    def transport(self) -> Transport:
        """The flavour's transport to the nodes, opened on first use."""
        if self._transport is None:
            from nxc.flavours import get_flavour

            flavour = get_flavour(self.deployment.flavour)
            self._transport = flavour.transport(self.deployment, self.store)
        return self._transport

    def run(
        self,
        command: str | Sequence[str],
        *,
        roles: Sequence[str] = (),
        hosts: Sequence[str] = (),
        timeout: float | None = None,
    ) -> GroupResult:
        """Run ``command`` at once on the nodes of ``roles`` and ``hosts`` (default: all).

        The result has one entry per host and never raises for failed hosts: call ``.check()``.
        """
        from nxc.fanout import select_nodes

        targets = [n.hostname for n in select_nodes(self.deployment.nodes, roles, hosts)]
        return self.transport.run(command, targets, timeout=timeout)

    def put(
        self,
        local: Path | str,
        remote: str,
        *,
        roles: Sequence[str] = (),
        hosts: Sequence[str] = (),
        timeout: float | None = None,
    ) -> GroupResult:
        """Copy the file or folder ``local`` to ``remote`` on the selected nodes."""
        from nxc.fanout import select_nodes

        targets = [n.hostname for n in select_nodes(self.deployment.nodes, roles, hosts)]
        return self.transport.put(Path(local), remote, targets, timeout=timeout)

    def execo_hosts(self, *roles: str) -> list[Any]:
        """``execo.Host`` objects for the nodes of ``roles`` (all when none is given)."""
        from execo.host import Host

        return [Host(n.ssh_host, user="root", port=n.ssh_port) for n in self.nodes(*roles)]

    def execo_connection_params(self) -> dict[str, Any]:
        """``connection_params`` for execo that use the deployment's key and pinned host keys."""
        from nxc.keys import pinned_ssh_options, write_known_hosts

        known_hosts = self.store.known_hosts_path(self.name)
        if not known_hosts.exists():
            write_known_hosts(known_hosts, self.deployment.nodes)
        return {
            "user": "root",
            "keyfile": str(self.store.client_key_path(self.name)),
            "ssh_options": (
                *pinned_ssh_options(known_hosts),
                "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=20",
            ),
        }  # fmt: skip

    def close(self) -> None:
        """Close the connections to the nodes (idempotent)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_deployment(
    name: str | None = None, *, tag: str | None = None, project: Path | str | None = None
) -> Environment:
    """Open a recorded deployment of the project found at (or above) ``project`` or the
    current folder: the one named, else the latest with ``tag``, else the latest."""
    from nxc.project import find_project
    from nxc.selection import choose_deployment

    store = find_project(Path(project) if project is not None else None).deployments
    deployment = choose_deployment(store, name, tag)
    return Environment(deployment, store)
