"""The ``Flavour`` interface every flavour implements, and the registry of flavours.

A flavour turns a deployment record (nodes planned, nothing running) into running nodes and
back. :func:`nxc.deploy.start_deployment` saves the first record (nodes planned, state
``starting``); :meth:`Flavour.start` is then the one start sequence, written here once:

1. :meth:`~Flavour.check_tools`, :meth:`~Flavour.check_request` — before anything is made;
2. :meth:`~Flavour.allocate` — addresses, ports, hosts, folders, written into the record,
   which is saved *before* anything exists, so that :meth:`Flavour.stop` can always undo
   exactly what the record lists (after a normal run, after ``nxc start`` was killed at any
   point, and twice in a row);
3. identities (here): a host key pair per node, pinned in the deployment's ``known_hosts``;
4. :meth:`~Flavour.deployment_info` — the one info builder (:mod:`nxc.deployment_info`) with
   what the flavour adds;
5. :meth:`~Flavour.prepare` — what the nodes get (files, command lines, specs), saved;
6. :meth:`~Flavour.launch` then the one ready-wait (:mod:`nxc.flavours.common.readiness`,
   on the flavour's :meth:`~Flavour.readiness`), again for the nodes missing while
   :attr:`~Flavour.launch_attempts` allow, then one timeout error;
7. every node ready, the deployment ``running``, saved — or, when some never came up but at
   least ``deployment.min_nodes`` did, those set aside in ``deployment.failed_nodes`` (with
   why) and the deployment running on the others.

Beyond that:

- :meth:`Flavour.probe` says, live, which nodes run, answer, or are gone;
- the lifecycle hooks (``start_node``, ``crash_node``...) serve the test driver; a flavour that
  cannot do one raises :class:`~nxc.errors.UnsupportedOperationError` naming itself and the
  operation.

Flavour classes are imported lazily through :data:`REGISTRY` (built from the flavour table,
:mod:`nxc.flavours.registry`) so that importing :mod:`nxc.flavours` stays cheap.
"""

from __future__ import annotations

import contextlib
import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nxc.errors import ProjectError, UnsupportedOperationError
from nxc.flavours.options import FlavourOptions
from nxc.flavours.registry import FLAVOURS

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.deployment_info import InfoExtras
    from nxc.errors import NodeTimeoutError
    from nxc.flavours.common.readiness import Guard, Readiness
    from nxc.manifest import Manifest


class LiveState(StrEnum):
    """What a probe finds about one node right now."""

    RUNNING = "running"  # its process/machine is up, SSH does not answer (yet)
    READY = "ready"  # SSH answers with the pinned host key
    DEAD = "dead"  # nothing of it is running


class Stage(StrEnum):
    """Steps a node goes through during :meth:`Flavour.start`, reported to the progress hook."""

    LAUNCHED = "launched"
    BOOTED = "booted"
    READY = "ready"


ProgressHook = Callable[[str, Stage], None]
"""Called as ``progress(hostname, stage)`` while nodes come up (from the calling thread)."""


def no_progress(hostname: str, stage: Stage) -> None:
    """A progress hook that ignores everything."""


PhaseTimer = Callable[[str], AbstractContextManager[None]]
"""``with timer("boot"): ...`` times one phase of :meth:`Flavour.start` (the journal's)."""


def untimed(name: str) -> AbstractContextManager[None]:
    """A phase timer that times nothing."""
    return contextlib.nullcontext()


@dataclass
class StartRun:
    """What the steps of one :meth:`Flavour.start` work on, filled in as they go."""

    deployment: Deployment
    store: DeploymentStore
    manifest: Manifest
    progress: ProgressHook = no_progress
    info: dict[str, Any] = field(default_factory=dict)
    """The deployment info, once built (before :meth:`Flavour.prepare`)."""
    host_keys: dict[str, bytes] = field(default_factory=dict)
    """Hostname → the node's private host key (OpenSSH), once made."""
    added: list[Node] | None = None
    """The nodes :meth:`Flavour.grow` adds to the running deployment (``None``: a start)."""
    platform_seconds: float = 0.0
    """Of the steps' time, what the platform took (an OAR job submitted until it runs)."""

    @property
    def launching(self) -> list[Node]:
        """The nodes this run launches: the added ones, else every node."""
        return self.deployment.nodes if self.added is None else self.added


class Flavour(ABC):
    """Where and how the nodes of a deployment run."""

    name: ClassVar[str]
    guest_reboot_keeps_system: ClassVar[bool] = True
    """Whether a node rebooting itself comes back in the composition (not so after a kexec:
    the firmware boots the host's own system)."""
    places_on_clusters: ClassVar[bool] = False
    """Whether the flavour honours roles placed on a cluster (``-r osd=cluster:dahu:8``)."""
    places_on_sites: ClassVar[bool] = False
    """Whether the flavour honours roles placed on a Grid'5000 site (``-r osd=site:nancy:8``:
    one OAR job per site)."""
    phase_timer: PhaseTimer = staticmethod(untimed)
    """Times the phases of :meth:`start` (allocate, prepare, boot); the caller may set it."""
    options_type: ClassVar[type[FlavourOptions]] = FlavourOptions
    """The flavour's options: what its constructor takes, what ``nxc start`` may set."""

    def __init__(self, options: FlavourOptions | None = None) -> None:
        self.options = options if options is not None else self.options_type()

    @property
    def kernel_params(self) -> tuple[str, ...]:
        """The extra kernel parameters the nodes boot with, as words (the journal's
        provenance); none for a flavour without a kernel of its own."""
        return ()

    def check_tools(self) -> None:  # noqa: B027 - flavours without external programs keep it
        """Raise :class:`~nxc.errors.MissingToolError` if an external program is missing."""

    def check_request(  # noqa: B027 - flavours with nothing to check keep it
        self, manifest: Manifest, composition: str, hostnames: list[str]
    ) -> None:
        """Refuse, before anything is written or launched, a request this flavour can't serve
        (a manifest of another flavour, more nodes than the machine holds...)."""

    def start(
        self,
        deployment: Deployment,
        manifest: Manifest,
        store: DeploymentStore,
        progress: ProgressHook = no_progress,
    ) -> None:
        """Launch every node of ``deployment`` and return once all are ready (the sequence of
        the module documentation; flavours implement its steps, not this)."""
        from nxc.deployment import DeploymentState

        self.check_tools()
        self.check_request(manifest, deployment.composition, [n.hostname for n in deployment.nodes])
        run = StartRun(deployment, store, manifest, progress)
        with store.lock(deployment.name):
            deployment.state = DeploymentState.starting
            with self.phase_timer("allocate"):
                self.allocate(run)
                store.save(deployment)  # everything recorded before anything exists
            with self.phase_timer("prepare"):
                self._prepare_launching(run)
            with self.phase_timer("boot"):
                missing = self._launch_until_ready(run)
            if missing:
                ready = len(deployment.nodes) - len(missing)
                if deployment.min_nodes is None or ready < deployment.min_nodes:
                    raise self.not_ready_error(deployment, missing)
                _set_aside(deployment, missing)
            self.after_ready(deployment, store)
            deployment.state = DeploymentState.running
            store.save(deployment)

    def grow(
        self,
        deployment: Deployment,
        manifest: Manifest,
        store: DeploymentStore,
        added: list[Node],
        progress: ProgressHook = no_progress,
    ) -> StartRun:
        """Add ``added`` (planned nodes) to running ``deployment`` and return once they are
        ready, its record saved: the start sequence for them alone (:meth:`allocate_added`,
        keys, the info listing every node, :meth:`prepare` and :meth:`launch` of
        ``run.launching``). The caller holds the record's lock, tells the other nodes
        (``run.info``) and, if this raises, removes the added nodes (:meth:`remove_nodes`)."""
        from nxc.deployment import NodeState

        self.check_tools()
        self.check_request(manifest, deployment.composition, [n.hostname for n in added])
        run = StartRun(deployment, store, manifest, progress, added=added)
        for node in added:
            node.state = NodeState.planned
        deployment.nodes.extend(added)
        with self.phase_timer("allocate"):
            self.allocate_added(run)
            store.save(deployment)  # recorded before anything exists: stop finds it
        with self.phase_timer("prepare"):
            self._prepare_launching(run)
        with self.phase_timer("boot"):
            missing = self._launch_until_ready(run)
        if missing:
            raise self.not_ready_error(deployment, missing, nodes_waited=len(added))
        self.after_ready(deployment, store)
        store.save(deployment)
        return run

    def _prepare_launching(self, run: StartRun) -> None:
        """Host keys of the nodes launched, ``known_hosts``, the info, :meth:`prepare`."""
        from nxc import keys
        from nxc.deployment import NodeState

        deployment, store = run.deployment, run.store
        for node in run.launching:
            pair = keys.generate_keypair(f"nxc:{deployment.name}:{node.hostname}")
            run.host_keys[node.hostname] = pair.private_openssh
            node.host_key = pair.public_line
            node.state = NodeState.planned
        keys.write_known_hosts(store.known_hosts_path(deployment.name), deployment.nodes)
        run.info = self.deployment_info(deployment, store, run.manifest)
        self.prepare(run)
        store.save(deployment)

    def _launch_until_ready(self, run: StartRun) -> dict[str, str]:
        """Launch and wait, then again for the nodes missing; hostname → why, for those
        still missing after :attr:`launch_attempts`."""
        deployment = run.deployment
        todo = list(run.launching)
        missing: dict[str, str] = {}
        for attempt in range(self.launch_attempts):
            if attempt:
                self.before_retry(deployment, todo)
            failed = self.launch(run, todo)
            run.store.save(deployment)
            waiting = [node for node in todo if node.hostname not in failed]
            missing = failed | self.await_ready(deployment, waiting, run.progress)
            run.store.save(deployment)
            if not missing:
                break
            todo = [node for node in run.launching if node.hostname in missing]
        return missing

    def await_ready(
        self, deployment: Deployment, nodes: list[Node], progress: ProgressHook = no_progress
    ) -> dict[str, str]:
        """Wait until ``nodes`` are ready (:meth:`readiness`); hostname → why for those not
        ready within :meth:`ready_timeout`."""
        import asyncio

        from nxc.flavours.common.readiness import wait_until_ready

        timeout = self.ready_timeout(len(nodes))

        async def check(node: Node, booted: bool, remaining: float) -> Readiness:
            return await self.readiness(deployment, node, booted, remaining)

        late = asyncio.run(
            wait_until_ready(nodes, check, timeout, progress, self.ready_guard(deployment))
        )
        return dict.fromkeys((node.hostname for node in late), self.not_ready_reason())

    def not_ready_reason(self) -> str:
        """Why a node not ready in time is missing."""
        return "no SSH answer with its pinned host key"

    @property
    def launch_attempts(self) -> int:
        """How many times start launches nodes that did not come up (vm, docker: once)."""
        return 1

    def ready_timeout(self, nodes: int) -> float:
        """How long start waits for ``nodes`` nodes to be ready."""
        return 120.0 + 15.0 * nodes

    def allocate(self, run: StartRun) -> None:  # noqa: B027 - nothing to allocate: keep it
        """Choose and record what the nodes will use (``deployment.resources``, each node's
        address, SSH endpoint, ``extra``); saved by :meth:`start` right after."""

    def allocate_added(self, run: StartRun) -> None:
        """:meth:`allocate` for ``run.added`` alone, keeping what the running nodes use
        (addresses, ports, hosts); saved by :meth:`grow` right after."""
        raise self._unsupported("add nodes to a running deployment")

    def remove_nodes(
        self, deployment: Deployment, store: DeploymentStore, nodes: list[Node]
    ) -> None:
        """Stop ``nodes`` of running ``deployment`` and undo what the record lists for them
        alone, leaving the others running; the caller drops them from the record."""
        raise self._unsupported("remove nodes from a running deployment")

    def info_extras(self, deployment: Deployment) -> InfoExtras:
        """What the flavour adds to the deployment info (prefix length, shared folder...)."""
        from nxc.deployment_info import InfoExtras

        return InfoExtras()

    def deployment_info(
        self, deployment: Deployment, store: DeploymentStore, manifest: Manifest
    ) -> dict[str, Any]:
        """The deployment info: :func:`nxc.deployment_info.build_info` with
        :meth:`info_extras`."""
        from nxc.deployment_info import build_info

        return build_info(deployment, store, manifest, self.info_extras(deployment))

    def prepare(self, run: StartRun) -> None:  # noqa: B027 - nodes given nothing: keep it
        """Make what the nodes of ``run.launching`` get at launch: ``run.info`` and each one's
        private host key (``run.host_keys``) through the flavour's channel (files, command
        lines, specs)."""

    def launch(self, run: StartRun, nodes: list[Node]) -> dict[str, str]:
        """Launch ``nodes`` (reporting ``LAUNCHED`` to ``run.progress``); hostname → why for
        those that could not be launched but whose failure start may retry, raising for the
        others."""
        raise self._unsupported("start nodes")

    async def readiness(
        self, deployment: Deployment, node: Node, booted: bool, remaining: float
    ) -> Readiness:
        """One look at ``node`` coming up (see :data:`~nxc.flavours.common.readiness.
        ReadinessCheck`)."""
        raise self._unsupported("wait for nodes")

    def ready_guard(self, deployment: Deployment) -> Guard | None:
        """What to check now and then while nodes come up (raises to stop the wait)."""
        return None

    def before_retry(self, deployment: Deployment, nodes: list[Node]) -> None:  # noqa: B027
        """Get ``nodes`` ready to be launched again (keys armed again...)."""

    def after_ready(self, deployment: Deployment, store: DeploymentStore) -> None:  # noqa: B027
        """Once every node is ready, before the deployment is recorded running."""

    def node_details(self, deployment: Deployment, hostname: str) -> str:
        """What to show of a node not ready in time (its last console lines)."""
        return ""

    def not_ready_hint(self, deployment: Deployment) -> str:
        """What to check when nodes are not ready in time."""
        return "check the nodes' consoles"

    def not_ready_error(
        self, deployment: Deployment, missing: dict[str, str], nodes_waited: int | None = None
    ) -> NodeTimeoutError:
        """The error for ``missing`` nodes (hostname → why), in node order, after waiting for
        ``nodes_waited`` nodes (default: all)."""
        from nxc.flavours.common.readiness import not_ready_error

        ordered = {
            n.hostname: missing[n.hostname] for n in deployment.nodes if n.hostname in missing
        }
        return not_ready_error(
            deployment.name,
            ordered,
            self.ready_timeout(nodes_waited or len(deployment.nodes)),
            lambda hostname: self.node_details(deployment, hostname),
            self.not_ready_hint(deployment),
            self.launch_attempts,
        )

    @abstractmethod
    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        """Undo exactly what the record lists; idempotent."""

    @abstractmethod
    def probe(self, deployment: Deployment) -> dict[str, LiveState]:
        """Live state of every node, by hostname."""

    def transport(self, deployment: Deployment, store: DeploymentStore) -> Any:
        """The transport reaching the nodes (SSH with the deployment's key and known_hosts)."""
        from nxc.transport.ssh import SshTransport

        return SshTransport.for_deployment(deployment, store)

    def _unsupported(self, operation: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(
            f"flavour '{self.name}' can't {operation}; use a flavour that can "
            "(the vm flavour supports every lifecycle operation)"
        )

    def start_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """(Re)start one node that is not running."""
        raise self._unsupported("start a single node")

    def shutdown_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Shut one node down cleanly and wait until it is off."""
        raise self._unsupported("shut a single node down")

    def crash_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Stop one node abruptly, as a power cut would."""
        raise self._unsupported("crash a node")

    def block_node(self, deployment: Deployment, hostname: str) -> None:
        """Cut one node off the deployment's network (its SSH access stays)."""
        raise self._unsupported("block a node's network")

    def unblock_node(self, deployment: Deployment, hostname: str) -> None:
        """Reconnect a node cut off by :meth:`block_node`."""
        raise self._unsupported("unblock a node's network")

    def console_log(self, deployment: Deployment, hostname: str) -> Path:
        """The file holding the node's console output."""
        raise self._unsupported("give a node's console log")


def _set_aside(deployment: Deployment, missing: dict[str, str]) -> None:
    """Move the ``missing`` nodes (hostname → why) out of the deployment's nodes into its
    failed ones: the driver, ``nxc run`` and ``nxc connect`` see only the others; ``stop``
    still undoes what the flavour recorded for them."""
    from nxc.deployment import NodeState

    for node in deployment.nodes:
        if node.hostname in missing:
            node.state = NodeState.dead
            node.failure = missing[node.hostname]
            deployment.failed_nodes.append(node)
    deployment.nodes = [node for node in deployment.nodes if node.hostname not in missing]


REGISTRY: dict[str, str] = {
    name: entry.implementation
    for name, entry in FLAVOURS.items()
    if entry.implementation is not None
}
"""Flavour name → ``module:Class`` (from the flavour table); imported only when asked for."""


def flavour_class(name: str) -> type[Flavour]:
    """The class implementing flavour ``name``."""
    target = REGISTRY.get(name)
    if target is None:
        known = ", ".join(sorted(REGISTRY))
        raise ProjectError.naming(
            f"flavour '{name}' cannot be deployed by this nxc (available: {known}); "
            "pick one of those with {flavour}",
            "flavour",
        )
    module_name, class_name = target.split(":")
    cls: type[Flavour] = getattr(importlib.import_module(module_name), class_name)
    return cls


def get_flavour(name: str, **options: Any) -> Flavour:
    """An instance of flavour ``name``, configured with ``options`` (its options type's
    fields: :meth:`~nxc.flavours.options.FlavourOptions.from_keywords` refuses others)."""
    cls = flavour_class(name)
    if cls.options_type is FlavourOptions:
        return cls(**options)
    return cls(cls.options_type.from_keywords(name, options))
