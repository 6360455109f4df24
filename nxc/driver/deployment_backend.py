"""Machines of a started deployment: its transport for commands, its flavour for lifecycle.

:func:`open_driver` builds a :class:`~nxc.driver.driver.Driver` with one
:class:`~nxc.driver.machine.Machine` per node; :class:`DeploymentNodeBackend` is the
:class:`~nxc.driver.backend.NodeBackend` each of them uses.

The shared folder (``/tmp/shared`` on every node) is the host folder the flavour records as
``shared_dir`` of its resources (:class:`~nxc.record_section.CommonResources`); without one,
copies go through the transport (SFTP) instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from nxc.driver.backend import CommandResult, SharedDir
from nxc.driver.driver import Driver
from nxc.driver.logger import DriverLogger
from nxc.driver.machine import Machine
from nxc.errors import (
    DeploymentRecordError,
    NodeUnusableError,
    TransportError,
    UnsupportedOperationError,
)
from nxc.record_section import CommonResources, resources_of

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore
    from nxc.flavours.base import Flavour
    from nxc.transport.base import Transport

#: How long a guest-initiated reboot may take to bring the node down.
REBOOT_DOWN_TIMEOUT = 120.0
_BOOT_ID = "cat /proc/sys/kernel/random/boot_id"


@contextmanager
def record_keys(deployment: Deployment, store: DeploymentStore) -> Iterator[None]:
    """Report a key missing from a hand-edited or truncated record as the corrupted-record
    error, not a ``KeyError``, for a flavour that reads it without a section (nxc's own read
    sections: :mod:`nxc.record_section`, which says which key)."""
    from nxc.deployment import CORRUPT_RECORD_HINT

    try:
        yield
    except KeyError as error:
        key = error.args[0] if error.args else "?"
        raise DeploymentRecordError(
            f"{store.path_for(deployment.name)}: corrupted record: {key!r} is missing; "
            f"{CORRUPT_RECORD_HINT}"
        ) from None


class DeploymentNodeBackend:
    """One node of a deployment, reached through ``transport`` and controlled by ``flavour``."""

    def __init__(
        self,
        deployment: Deployment,
        store: DeploymentStore,
        flavour: Flavour,
        transport: Transport,
        hostname: str,
    ) -> None:
        self.deployment = deployment
        self.store = store
        self.flavour = flavour
        self.transport = transport
        self.hostname = hostname
        shared = resources_of(CommonResources, deployment).shared_dir
        self.shared_dir = SharedDir(shared) if shared else None

    def run(self, command: str, timeout: float | None) -> CommandResult:
        """Run ``command`` over the transport; :class:`TransportError` if it did not complete,
        :class:`NodeUnusableError` if the node was refused for good (another host key)."""
        result = self.transport.run_one(self.hostname, command, timeout=timeout)
        if result.refused:
            raise NodeUnusableError(result.describe_failure())
        if result.error is not None or result.exit_status is None:
            raise TransportError(f"{self.hostname}: {result.describe_failure()}")
        return CommandResult(result.exit_status, result.stdout, result.stderr)

    def put(self, local: Path, remote: str) -> None:
        """Copy ``local`` to ``remote`` on the node (SFTP)."""
        self.transport.put(local, remote, [self.hostname]).check()

    def get(self, remote: str, local: Path) -> None:
        """Copy ``remote`` of the node to ``local`` (SFTP)."""
        self.transport.get(self.hostname, remote, local).check()

    def interactive_argv(self) -> list[str]:
        """An OpenSSH command line logging into the node with the deployment's key."""
        return self.transport.interactive_argv(self.hostname)

    def is_running(self) -> bool:
        """Whether the flavour finds the node's machine/process alive."""
        from nxc.flavours.base import LiveState

        with self._record():
            return self.flavour.probe(self.deployment).get(self.hostname) != LiveState.DEAD

    def start(self) -> None:
        """Start the node through the flavour."""
        with self._record():
            self.flavour.start_node(self.deployment, self.store, self.hostname)

    def shutdown(self) -> None:
        """Shut the node down through the flavour."""
        with self._record():
            self.flavour.shutdown_node(self.deployment, self.store, self.hostname)

    def crash(self) -> None:
        """Crash the node through the flavour."""
        with self._record():
            self.flavour.crash_node(self.deployment, self.store, self.hostname)

    def reboot(self) -> None:
        """Reboot through the flavour's ``reboot_node`` if it has one, else shut the node down
        and start it again, else (the flavour can do neither) ask the guest to reboot, when
        that brings it back in the composition."""
        with self._record():
            self._reboot()

    def _reboot(self) -> None:
        reboot_node = getattr(self.flavour, "reboot_node", None)
        if reboot_node is not None:
            reboot_node(self.deployment, self.store, self.hostname)
            return
        try:
            self.flavour.shutdown_node(self.deployment, self.store, self.hostname)
        except UnsupportedOperationError:
            if not self.flavour.guest_reboot_keeps_system:
                raise UnsupportedOperationError(
                    f"flavour '{self.flavour.name}' can't reboot {self.hostname}: its firmware "
                    "would boot the host's own system, not the kexec'd composition; redeploy "
                    "('nxc stop', then 'nxc start'), or use g5k-image (installed on disk)"
                ) from None
            self._guest_reboot()
            return
        self.flavour.start_node(self.deployment, self.store, self.hostname)

    def block(self) -> None:
        """Cut the node off the other nodes through the flavour."""
        with self._record():
            self.flavour.block_node(self.deployment, self.hostname)

    def unblock(self) -> None:
        """Reconnect the node through the flavour."""
        with self._record():
            self.flavour.unblock_node(self.deployment, self.hostname)

    def console_log(self) -> str:
        """The node's console output so far, as the flavour logs it."""
        with self._record():
            path = self.flavour.console_log(self.deployment, self.hostname)
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _record(self) -> AbstractContextManager[None]:
        return record_keys(self.deployment, self.store)

    def _guest_reboot(self) -> None:
        """``systemctl reboot`` (or ``reboot``) on the node; return once it went down."""
        before = self.run(_BOOT_ID, timeout=30).stdout.strip()
        self.run(
            "setsid sh -c 'sleep 0.2; systemctl reboot || reboot' </dev/null >/dev/null 2>&1 &",
            timeout=30,
        )
        deadline = time.monotonic() + REBOOT_DOWN_TIMEOUT
        while time.monotonic() < deadline:
            try:
                now = self.run(_BOOT_ID, timeout=10).stdout.strip()
            except TransportError:
                return
            if now != before:
                return
            time.sleep(0.5)
        raise TransportError(
            f"{self.hostname} was asked to reboot but was still up after "
            f"{REBOOT_DOWN_TIMEOUT:g} seconds; see its console log"
        )


def open_driver(
    deployment: Deployment,
    store: DeploymentStore,
    flavour: Flavour,
    transport: Transport,
    logger: DriverLogger,
    *,
    out_dir: Path | None = None,
    boot_timeout: float = 900.0,
) -> Driver:
    """A driver with one machine per node of ``deployment`` (already started)."""
    from nxc.deployment import NodeState

    machines = [
        Machine(
            node.hostname,
            DeploymentNodeBackend(deployment, store, flavour, transport, node.hostname),
            logger,
            role=node.role,
            out_dir=out_dir,
            booted=node.state not in (NodeState.stopped, NodeState.dead),
            boot_timeout=boot_timeout,
        )
        for node in deployment.nodes
    ]
    return Driver(machines, logger, out_dir=out_dir)
