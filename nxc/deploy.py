"""Deploying: from a plan and a build manifest to running nodes, and back.

The flow every flavour follows::

    deployment = start_deployment(store, manifest, plan, flavour)   # record, launch, wait
    states = live_states(deployment)                                  # what nxc status shows
    stop_deployment(store, deployment.name)                           # undo what the record lists

:func:`start_deployment` writes the record before the flavour launches anything; if starting
fails or is interrupted, everything started so far is stopped again (the logs stay in the
deployment's state folder) and the record says ``failed``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, process_identity
from nxc.errors import (
    DeploymentActiveError,
    DeploymentLockedError,
    DeploymentRecordError,
    InputError,
    JournalError,
    ManifestError,
    ProjectError,
)
from nxc.flavours.base import (
    REGISTRY,
    Flavour,
    LiveState,
    ProgressHook,
    Stage,
    flavour_class,
    no_progress,
)
from nxc.interrupts import shielded
from nxc.journal import (
    CommandEvent,
    Journal,
    NodesAdded,
    NodesFailed,
    NodesRemoved,
    NodesRepaired,
    ProvenanceEvent,
    phase,
)
from nxc.record_section import CommonResources, resources_of

if TYPE_CHECKING:
    from nxc.manifest import Manifest
    from nxc.plan import Plan, PlannedNode

FORCE_LOCK_WAIT = 2.0
MANIFEST_FILE = "manifest.json"


def built_manifest(build_dir: Path, flavour: str | None, composition: str | None = None) -> Path:
    """The manifest of the latest build under ``build/`` of ``flavour`` (and ``composition``).

    Builds are the links ``build/<composition>::<flavour>`` (``::<flavour>`` for all-in-one
    builds); the most recently built one wins.
    """
    candidates = []
    if build_dir.is_dir():
        for link in build_dir.iterdir():
            comp, sep, flav = link.name.rpartition("::")
            if not sep or not (link / MANIFEST_FILE).is_file():
                continue
            if flavour not in (None, flav) or composition not in (None, comp, ""):
                continue
            candidates.append((link.lstat().st_mtime, link / MANIFEST_FILE))
    if not candidates:
        which = "::".join(part for part in (composition or "", flavour or "") if part) or "any"
        raise ManifestError.naming(
            f"no build ({which}) in {build_dir}; run 'nxc build"
            f"{' -f ' + flavour if flavour else ''}' first, or give {{manifest}} PATH",
            "manifest",
        )
    return max(candidates)[1]


def start_deployment(
    store: DeploymentStore,
    manifest: Manifest,
    plan: Plan,
    flavour: Flavour,
    progress: ProgressHook = no_progress,
) -> Deployment:
    """Record the planned deployment, let ``flavour`` start it, and return the running record.

    Refuses when a deployment of the same name is still active: stop it first or use a tag.
    """
    check_placement(plan.nodes, plan.flavour, flavour)
    flavour.check_tools()
    flavour.check_request(manifest, plan.composition, [node.hostname for node in plan.nodes])
    name = plan.deployment_name
    with store.lock(name):
        if store.exists(name):
            _refuse_active(store.load(name))
        deployment = Deployment(
            composition=plan.composition,
            flavour=plan.flavour,
            tag=plan.tag,
            nodes=[
                Node(
                    hostname=node.hostname,
                    role=node.role,
                    address="",
                    ssh_host="",
                    cluster=node.cluster,
                    site=node.site,
                )
                for node in plan.nodes
            ],
            manifest=manifest.source,
            state=DeploymentState.starting,
            started_by=process_identity(),
            parameters=dict(plan.parameters),
            min_nodes=plan.min_nodes,
        )
        store.save(deployment)
        journal = Journal(store, name)
        try:
            journal.append(CommandEvent.current())
            flavour.phase_timer = lambda phase_name: phase(journal, phase_name)
            flavour.start(deployment, manifest, store, progress)
            if waits_for_roles(manifest, deployment):
                with phase(journal, "activate"):
                    activate_roles(store, deployment, manifest, flavour)
            journal.append(NodesAdded(hostnames=[node.hostname for node in deployment.nodes]))
            journal.append(
                ProvenanceEvent(provenance=_provenance(store, deployment, manifest, flavour))
            )
        except BaseException as error:
            with shielded():
                _journal_failure(journal, error)
                _undo_start(store, deployment, flavour, error)
            raise
    return deployment


def check_placement(nodes: Sequence[PlannedNode], name: str, flavour: Flavour) -> None:
    """Refuse, before anything is written, roles placed on a cluster or a site by a flavour
    (``name``) that cannot place them."""
    for kind, honoured in (
        ("cluster", flavour.places_on_clusters),
        ("site", flavour.places_on_sites),
    ):
        placed = {node.role: getattr(node, kind) for node in nodes if getattr(node, kind)}
        if placed and not honoured:
            where = ", ".join(f"{role} on {place}" for role, place in placed.items())
            raise InputError(
                f"roles placed on a {kind} ({where}) need a Grid'5000 flavour that places "
                f"them, not {name}; drop the '{kind}:' part"
            )


def waits_for_roles(manifest: Manifest, deployment: Deployment) -> bool:
    """Whether a role of the deployment's composition has ``nxc.after`` or ``nxc.readiness``
    (:func:`activate_roles` has something to do)."""
    composition = manifest.composition(deployment.composition)
    return any(role.after or role.readiness for role in composition.roles)


def activate_roles(
    store: DeploymentStore,
    deployment: Deployment,
    manifest: Manifest,
    flavour: Flavour,
    hostnames: Collection[str] | None = None,
) -> None:
    """Activate the roles that wait for roles, level by level, and wait for every role's
    readiness check (:mod:`nxc.activation`); recorded in ``deployment.activation``. Only the
    nodes ``hostnames`` when given (nodes just added: the roles they wait for are ready).
    Nothing to do, nothing run, for a composition without ``nxc.after`` or
    ``nxc.readiness``."""
    from nxc.activation import activate

    if not waits_for_roles(manifest, deployment):
        return
    composition = manifest.composition(deployment.composition)
    chosen = deployment
    if hostnames is not None:
        chosen = dataclasses.replace(
            deployment, nodes=[node for node in deployment.nodes if node.hostname in hostnames]
        )
    with flavour.transport(deployment, store) as transport:
        result = activate(
            chosen,
            composition,
            transport,
            timeout=flavour.ready_timeout(len(chosen.nodes)),
        )
    for name, times in result.roles.items():
        deployment.activation[name] = {
            "activated_at": times.activated_at,
            "ready_at": times.ready_at,
        }
    store.save(deployment)


def _provenance(
    store: DeploymentStore, deployment: Deployment, manifest: Manifest, flavour: Flavour
) -> dict[str, Any]:
    """What the journal keeps of where this deployment came from (docs/journal.md)."""
    from nxc.provenance import collect

    return collect(
        store.deploy_dir.parent, deployment, manifest, kernel_params=flavour.kernel_params
    )


def _journal_failure(journal: Journal, error: BaseException) -> None:
    """Journal the nodes a failed start names, if it can (the failure is what matters)."""
    missing = getattr(error, "missing", None) or []
    if missing:
        reason = str(error).splitlines()[0]
        with contextlib.suppress(JournalError):
            journal.append(NodesFailed(reasons=dict.fromkeys(missing, reason)))


def _refuse_active(existing: Deployment) -> None:
    """Refuse to start over a deployment that may still own live resources."""
    name = existing.name
    if existing.starter_gone:
        pid = existing.started_by["pid"] if existing.started_by else "?"
        raise DeploymentActiveError(
            f"deployment {name} is recorded as starting, but the nxc start that was starting "
            f"it (pid {pid}) is gone; clean up what it left with 'nxc stop {name}', then start "
            "again"
        )
    if existing.is_active:
        raise DeploymentActiveError(
            f"deployment {name} is already {existing.state}; stop it first with "
            f"'nxc stop {name}', or start another one beside it with --tag"
        )


def _undo_start(
    store: DeploymentStore, deployment: Deployment, flavour: Flavour, error: BaseException
) -> None:
    """Stop what a failed or interrupted start launched, and record it as failed.

    If the record cannot be written (a full disk, often the reason the start failed), say
    so and what is left to run, rather than only that a save failed.
    """
    try:
        flavour.stop(deployment, store, force=True)
        deployment.state = DeploymentState.failed
        store.save(deployment)
    except DeploymentRecordError as save_error:
        left = (
            f"its record could not be updated after stopping what it started ({save_error}), "
            f"so it may still say 'starting'; once there is room, run 'nxc stop {deployment.name}'"
        )
        if isinstance(error, KeyboardInterrupt):
            error.add_note(left)
            return
        raise DeploymentRecordError(
            f"starting {deployment.name} failed ({_reason(error)}); {left}"
        ) from error
    if isinstance(error, OSError) and error.errno == errno.ENOSPC and not error.filename:
        run_dir = resources_of(CommonResources, deployment).run_dir or "/tmp"
        raise DeploymentRecordError(
            f"starting {deployment.name} failed: no space left on device while writing its "
            f"state under {store.deploy_dir} or {run_dir}; free space there, then start again"
        ) from error


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return str(error) or type(error).__name__


def stop_deployment(
    store: DeploymentStore, name: str | None = None, force: bool = False
) -> Deployment:
    """Stop deployment ``name`` (default: the latest one); safe to run again and again.

    Waits for the record's lock (an ``nxc start`` still running holds it); ``force`` stops
    at once, without waiting for the lock and without letting nodes shut down gracefully.
    """
    deployment = store.load(name) if name else store.latest()
    flavour = flavour_class(deployment.flavour)()
    with _locked(store, deployment.name, force), shielded():
        deployment = store.load(deployment.name)
        deployment.state = DeploymentState.stopping
        with contextlib.suppress(DeploymentRecordError):
            store.save(deployment)  # a full disk must not keep stop from stopping the nodes
        journal = Journal(store, deployment.name)
        with contextlib.suppress(JournalError):  # a full disk must not keep stop from stopping
            journal.append(CommandEvent.current())
        try:
            flavour.stop(deployment, store, force=force)
        except DeploymentRecordError as error:
            raise DeploymentRecordError(
                f"{deployment.name}: the nodes were told to stop, but {error}; once there is room, "
                f"run 'nxc stop {deployment.name}' again to record it"
            ) from None
        with contextlib.suppress(JournalError):
            journal.append(NodesRemoved(hostnames=[node.hostname for node in deployment.nodes]))
        store.lock_path(deployment.name).unlink(missing_ok=True)
    return deployment


@contextlib.contextmanager
def _locked(store: DeploymentStore, name: str, force: bool) -> Iterator[None]:
    """Hold the record's lock; with ``force``, go ahead without it if its holder is stuck."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(store.lock(name, timeout=FORCE_LOCK_WAIT if force else None))
        except DeploymentLockedError as error:
            if not force:
                raise DeploymentLockedError(
                    f"{error}; or stop it anyway with 'nxc stop --force'"
                ) from None
        yield


def repair_deployment(
    store: DeploymentStore, name: str, progress: ProgressHook = no_progress
) -> list[str]:
    """Relaunch the nodes of running deployment ``name`` the flavour finds dead, keeping the
    others as they are; the hostnames relaunched (each ready again), in node order.

    Journalled as a ``repair`` phase and ``nodes_repaired``. A flavour that cannot relaunch
    one node raises :class:`~nxc.errors.UnsupportedOperationError` naming itself.
    """
    deployment = store.load(name)
    if deployment.state is not DeploymentState.running:
        raise InputError(
            f"deployment {name} is {deployment.state}, not running: there is nothing to repair; "
            f"start it with 'nxc start'"
        )
    flavour = flavour_class(deployment.flavour)()
    states = flavour.probe(deployment)
    dead = [
        node.hostname for node in deployment.nodes if states.get(node.hostname) is LiveState.DEAD
    ]
    if not dead:
        return []
    journal = Journal(store, name)
    journal.append(CommandEvent.current())
    with phase(journal, "repair"):
        for hostname in dead:
            progress(hostname, Stage.LAUNCHED)
            flavour.start_node(deployment, store, hostname)
            progress(hostname, Stage.READY)
    journal.append(NodesRepaired(hostnames=dead))
    return dead


def live_states(deployment: Deployment) -> dict[str, LiveState] | None:
    """Each node's live state (running/ready/dead), or None if this nxc cannot probe the flavour.

    A deployment that is not active has nothing running: every node is dead.
    """
    if not deployment.is_active:
        return {node.hostname: LiveState.DEAD for node in deployment.nodes}
    if deployment.flavour not in REGISTRY:
        return None
    try:
        flavour = flavour_class(deployment.flavour)()
    except ProjectError:
        return None
    return flavour.probe(deployment)


def hold_in_foreground(
    store: DeploymentStore, deployment: Deployment, poll_interval: float = 5.0
) -> None:
    """Keep a started deployment in the foreground until Ctrl-C or every node is dead, then stop.

    The caller catches :class:`KeyboardInterrupt` if it wants to print something; the
    deployment is stopped in every case.
    """
    try:
        while True:
            time.sleep(poll_interval)
            states = live_states(store.load(deployment.name))
            if states is not None and all(s is LiveState.DEAD for s in states.values()):
                return
    finally:
        stop_deployment(store, deployment.name)
