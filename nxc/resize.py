"""Growing and shrinking a running deployment: nodes added and removed while it runs.

::

    change = add_nodes(store, name, parse_role_options(["node=2"]))   # node3, node4
    change = remove_nodes(store, name, ["node3"])

:func:`add_nodes` runs the flavour's start sequence for the new nodes alone
(:meth:`~nxc.flavours.base.Flavour.grow`: they boot with an info listing every node), then
tells the nodes already running (:mod:`nxc.membership`); :func:`remove_nodes` stops the nodes
named (:meth:`~nxc.flavours.base.Flavour.remove_nodes`), drops them from the record and tells
the others. Both hold the record's lock, journal the command, its phases and the nodes added
or removed, and return a :class:`Resize` saying what happened and how long each phase took.
A start that fails or is interrupted stops the nodes it added; the others run on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nxc import manifest as manifest_module
from nxc.deploy import activate_roles, check_placement, waits_for_roles
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node
from nxc.errors import InputError, JournalError, NxcError
from nxc.flavours.base import Flavour, ProgressHook, flavour_class, no_progress
from nxc.interrupts import shielded
from nxc.journal import CommandEvent, Journal, NodesAdded, NodesFailed, NodesRemoved, phase
from nxc.membership import Announcement, announce

if TYPE_CHECKING:
    from nxc.roles import RoleQuantity


@dataclass(frozen=True)
class Resize:
    """What adding or removing nodes did."""

    deployment: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    phases: Mapping[str, float] = field(default_factory=dict)
    """Phase → seconds, in order: ``plan`` (nxc's decision), ``allocate``, ``prepare``
    (nxc's orchestration up to the launch), ``boot`` (launch to ready), ``activate``,
    ``stop``, ``announce`` (every other node told); and ``platform``, the part of
    ``allocate`` the platform took (a new OAR job submitted until it ran), when there is one."""
    announcement: Announcement = field(default_factory=lambda: Announcement(0.0))

    @property
    def own_seconds(self) -> float:
        """nxc's own part: from the request to the launch (plan, allocate, prepare), the
        platform's time left out."""
        spent = sum(self.phases.get(name, 0.0) for name in ("plan", "allocate", "prepare"))
        return spent - self.phases.get("platform", 0.0)


def add_nodes(
    store: DeploymentStore,
    name: str,
    *quantities: Mapping[str, RoleQuantity],
    flavour: Flavour | None = None,
    progress: ProgressHook = no_progress,
) -> Resize:
    """Add nodes to running deployment ``name``: ``quantities`` (as for
    :func:`nxc.plan.plan_added_nodes`) say how many of which role; ``flavour`` (default: the
    deployment's, with its defaults) boots them. Returns once they are ready and every other
    node has the new nodes list."""
    from nxc.plan import plan_added_nodes

    began = time.monotonic()
    with store.lock(name):
        deployment = _running(store, name, "add nodes to")
        manifest = manifest_module.load(_manifest_path(deployment))
        flavour = flavour or flavour_class(deployment.flavour)()
        taken = [node.hostname for node in deployment.nodes + deployment.failed_nodes]
        planned = plan_added_nodes(manifest, deployment.composition, taken, *quantities)
        check_placement(planned, deployment.flavour, flavour)
        added = [
            Node(p.hostname, p.role, address="", ssh_host="", cluster=p.cluster, site=p.site)
            for p in planned
        ]
        journal = Journal(store, name)
        journal.append(CommandEvent.current())
        phases = {"plan": time.monotonic() - began}
        flavour.phase_timer = lambda phase_name: _timed(journal, phases, phase_name)
        staying = [node.hostname for node in deployment.nodes]
        try:
            run = flavour.grow(deployment, manifest, store, added, progress)
            if waits_for_roles(manifest, deployment):
                with _timed(journal, phases, "activate"):
                    new = {node.hostname for node in added}
                    activate_roles(store, deployment, manifest, flavour, new)
        except BaseException as error:
            with shielded():
                _undo_grow(store, deployment, flavour, added, journal, error)
            raise
        if run.platform_seconds:
            phases["platform"] = run.platform_seconds
        hostnames = tuple(node.hostname for node in added)
        journal.append(NodesAdded(hostnames=list(hostnames)))
        with _timed(journal, phases, "announce"), flavour.transport(deployment, store) as t:
            told = announce(t, staying, run.info)
    return Resize(name, added=hostnames, phases=phases, announcement=told)


def remove_nodes(store: DeploymentStore, name: str, hostnames: Iterable[str]) -> Resize:
    """Stop the nodes ``hostnames`` of running deployment ``name``, drop them from its record
    and give every other node the new nodes list. Removing every node is refused: stop the
    deployment instead."""
    began = time.monotonic()
    with store.lock(name):
        deployment = _running(store, name, "remove nodes from")
        wanted = list(dict.fromkeys(hostnames))
        gone = [deployment.node(hostname) for hostname in wanted]
        if len(gone) == len(deployment.nodes):
            raise InputError(
                f"that removes every node of {name}; stop it with 'nxc stop {name}' instead"
            )
        flavour = flavour_class(deployment.flavour)()
        manifest = manifest_module.load(_manifest_path(deployment))  # before anything stops
        journal = Journal(store, name)
        journal.append(CommandEvent.current())
        phases = {"plan": time.monotonic() - began}
        with _timed(journal, phases, "stop"), shielded():
            flavour.remove_nodes(deployment, store, gone)
            deployment.nodes = [node for node in deployment.nodes if node.hostname not in wanted]
            store.save(deployment)
            journal.append(NodesRemoved(hostnames=wanted))
        info = flavour.deployment_info(deployment, store, manifest)
        with _timed(journal, phases, "announce"), flavour.transport(deployment, store) as t:
            told = announce(t, [node.hostname for node in deployment.nodes], info)
    return Resize(name, removed=tuple(wanted), phases=phases, announcement=told)


def _running(store: DeploymentStore, name: str, action: str) -> Deployment:
    deployment = store.load(name)
    if deployment.state is not DeploymentState.running:
        raise InputError(
            f"deployment {name} is {deployment.state}, not running: nxc cannot {action} it; "
            f"start it first with 'nxc start'"
        )
    return deployment


def _manifest_path(deployment: Deployment) -> Path:
    if not deployment.manifest or not Path(deployment.manifest).is_file():
        raise InputError(
            f"the build manifest deployment {deployment.name} was started from "
            f"({deployment.manifest or 'not recorded'}) is gone; build it again with 'nxc build'"
        )
    return Path(deployment.manifest)


@contextlib.contextmanager
def _timed(journal: Journal, phases: dict[str, float], name: str) -> Iterator[None]:
    """Journal the phase and keep its duration in ``phases``."""
    started = time.monotonic()
    try:
        with phase(journal, name):
            yield
    finally:
        phases[name] = time.monotonic() - started


def _undo_grow(
    store: DeploymentStore,
    deployment: Deployment,
    flavour: Flavour,
    added: list[Node],
    journal: Journal,
    error: BaseException,
) -> None:
    """Stop the added nodes a failed or interrupted :meth:`Flavour.grow` left in the record;
    the deployment's other nodes run on."""
    missing = getattr(error, "missing", None) or [node.hostname for node in added]
    with contextlib.suppress(JournalError):
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        journal.append(NodesFailed(reasons=dict.fromkeys(missing, reason)))
    new = {node.hostname for node in added}
    left = [node for node in deployment.nodes if node.hostname in new]
    if not left:
        return
    try:
        flavour.remove_nodes(deployment, store, left)
    except NxcError as undo_error:  # what failed first is the error to see
        names = " ".join(f"--node {node.hostname}" for node in left)
        error.add_note(
            f"the nodes it added could not all be stopped ({undo_error}); they stay in the "
            f"record: stop them with 'nxc stop {deployment.name} {names}'"
        )
    else:
        deployment.nodes = [node for node in deployment.nodes if node.hostname not in new]
    store.save(deployment)
