"""The ``Flavour`` interface every flavour implements, and the registry of flavours.

A flavour turns a deployment record (nodes planned, nothing running) into running nodes and
back. Its contract:

- :meth:`Flavour.check_tools` and :meth:`Flavour.check_request` run before anything is
  written or launched;
- :meth:`Flavour.start` saves the record *before* it launches anything and saves it again as
  things start, so that :meth:`Flavour.stop` can always undo exactly what the record lists —
  after a normal run, after ``nxc start`` was killed at any point, and twice in a row;
- :meth:`Flavour.probe` says, live, which nodes run, answer, or are gone;
- the lifecycle hooks (``start_node``, ``crash_node``...) serve the test driver; a flavour that
  cannot do one raises :class:`~nxc.errors.UnsupportedOperationError` naming itself and the
  operation.

Flavour classes are imported lazily through :data:`REGISTRY` (built from the flavour table,
:mod:`nxc.flavours.registry`) so that importing :mod:`nxc.flavours` stays cheap.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nxc.errors import ProjectError, UnsupportedOperationError
from nxc.flavours.registry import FLAVOURS

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore
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


class Flavour(ABC):
    """Where and how the nodes of a deployment run."""

    name: ClassVar[str]
    guest_reboot_keeps_system: ClassVar[bool] = True
    """Whether a node rebooting itself comes back in the composition (not so after a kexec:
    the firmware boots the host's own system)."""
    places_on_clusters: ClassVar[bool] = False
    """Whether the flavour honours roles placed on a cluster (``-r osd=cluster:dahu:8``)."""

    def check_tools(self) -> None:  # noqa: B027 - flavours without external programs keep it
        """Raise :class:`~nxc.errors.MissingToolError` if an external program is missing."""

    def check_request(  # noqa: B027 - flavours with nothing to check keep it
        self, manifest: Manifest, composition: str, hostnames: list[str]
    ) -> None:
        """Refuse, before anything is written or launched, a request this flavour can't serve
        (a manifest of another flavour, more nodes than the machine holds...)."""

    @abstractmethod
    def start(
        self,
        deployment: Deployment,
        manifest: Manifest,
        store: DeploymentStore,
        progress: ProgressHook = no_progress,
    ) -> None:
        """Launch every node of ``deployment`` and return once all are ready."""

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
    """An instance of flavour ``name``, configured with ``options``."""
    return flavour_class(name)(**options)
