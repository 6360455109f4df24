"""What a :class:`~nxc.driver.machine.Machine` needs from the world to drive one node.

The machine speaks only to this small protocol: run a shell command, copy files, open an
interactive shell, and the lifecycle/fault calls that a flavour implements. The real
implementation (:mod:`nxc.driver.deployment_backend`) joins a deployment's transport and
flavour; anything else honouring the protocol (a test harness) works the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Where nodes see the shared folder, as in NixOS tests.
NODE_SHARED_DIR = "/tmp/shared"


@dataclass(frozen=True)
class CommandResult:
    """Exit status and captured output of one remote command."""

    status: int
    stdout: str
    stderr: str = ""


@dataclass(frozen=True)
class SharedDir:
    """One folder seen by the host at ``host`` and by every node at ``node``."""

    host: Path
    node: str = NODE_SHARED_DIR


class NodeBackend(Protocol):
    """How to reach and control one node.

    ``run`` raises :class:`nxc.errors.TransportError` when the node cannot be reached or the
    connection drops; a command that merely fails returns its status. Lifecycle methods raise
    an :class:`nxc.errors.NxcError` naming the flavour when it cannot do what is asked.
    """

    shared_dir: SharedDir | None

    def run(self, command: str, timeout: float | None) -> CommandResult:
        """Run ``command`` through the node's shell; give up after ``timeout`` seconds."""
        ...

    def put(self, local: Path, remote: str) -> None:
        """Copy a host file or folder to ``remote`` on the node."""
        ...

    def get(self, remote: str, local: Path) -> None:
        """Copy a node file or folder to ``local`` on the host."""
        ...

    def interactive_argv(self) -> list[str]:
        """A command line opening an interactive root shell on the node in this terminal."""
        ...

    def is_running(self) -> bool:
        """Whether the node is powered on (not whether its SSH server answers yet)."""
        ...

    def start(self) -> None:
        """Power the node on; returns without waiting for it to boot."""
        ...

    def shutdown(self) -> None:
        """Shut the node down cleanly and return once it is off."""
        ...

    def crash(self) -> None:
        """Cut the node's power at once and return once it is off."""
        ...

    def reboot(self) -> None:
        """Reboot the node; returns once the old instance is gone (it may not be back yet)."""
        ...

    def block(self) -> None:
        """Cut the node's link to the other nodes (the driver can still reach it)."""
        ...

    def unblock(self) -> None:
        """Undo :meth:`block`."""
        ...

    def console_log(self) -> str:
        """Everything the node printed on its console since the deployment started."""
        ...
