"""Choosing the deployment a command works on (``--name``, ``--tag``, or the latest) and its nodes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nxc.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from nxc.deployment import Deployment, DeploymentStore, Node


def choose_deployment(
    store: DeploymentStore, name: str | None = None, tag: str | None = None
) -> Deployment:
    """The deployment named, else the latest with ``tag``, else the latest; refuse stopped ones."""
    from nxc.deployment import DeploymentState

    if name is not None and tag is not None:
        raise InputError.naming(
            "{name} and {tag} both choose the deployment; give one", "name", "tag"
        )
    if name is not None:
        deployment = store.load(name)
    elif tag is not None:
        tagged = [deployment for deployment in store.list() if deployment.tag == tag]
        if not tagged:
            raise InputError.naming(
                f"{{tag}} {tag}: no deployment with that tag; see 'nxc status'", "tag"
            )
        deployment = max(tagged, key=lambda d: d.created_at)
    else:
        deployment = store.latest()
    if deployment.state == DeploymentState.stopped:
        raise InputError(
            f"deployment {deployment.name} is stopped; start it again with 'nxc start'"
        )
    return deployment


def choose_nodes(
    store: DeploymentStore,
    name: str | None = None,
    tag: str | None = None,
    roles: Sequence[str] = (),
    hosts: Sequence[str] = (),
) -> tuple[Deployment, list[Node]]:
    """The deployment (see :func:`choose_deployment`) and its nodes of ``roles`` and ``hosts``.

    With neither roles nor hosts, every node; unknown ones are an :class:`InputError`.
    """
    from nxc.fanout import select_nodes

    deployment = choose_deployment(store, name, tag)
    return deployment, select_nodes(deployment.nodes, roles, hosts)
