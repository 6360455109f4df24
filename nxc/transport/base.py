"""The ``Transport`` interface: how nxc runs commands and copies files on a deployment's nodes.

A transport is built for a set of nodes and addresses them by hostname. Group operations
(:meth:`Transport.run`, :meth:`Transport.put`) return a :class:`~nxc.fanout.GroupResult` with
one result per host and never raise because some hosts failed; call ``.check()`` on the result
to turn failures into a :class:`~nxc.errors.TransportError`. Transports are synchronous objects
(usable from the test driver and experiment scripts) and must be closed (or used in ``with``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from nxc.fanout import GroupResult, HostResult

OutputCallback = Callable[[str, str, str], None]
"""Called as ``callback(host, stream, line)`` for each complete output line, stream being
``"stdout"`` or ``"stderr"``; called from the transport's own thread."""

Command = str | Sequence[str]
"""A shell command line, or an argument list that is quoted into one."""


class SshEndpoint(Protocol):
    """What a transport needs to know of a node (``nxc.deployment.Node`` has these fields)."""

    @property
    def hostname(self) -> str: ...

    @property
    def ssh_host(self) -> str: ...

    @property
    def ssh_port(self) -> int: ...

    @property
    def host_key(self) -> str | None: ...


class Transport(ABC):
    """Run commands and copy files on nodes; one result per host."""

    @property
    @abstractmethod
    def hosts(self) -> list[str]:
        """Hostnames this transport reaches, in deployment order."""

    @abstractmethod
    def run(
        self,
        command: Command,
        hosts: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> GroupResult:
        """Run ``command`` on ``hosts`` (default: all) at once; wait for every host.

        ``timeout`` bounds each host's command (the remote command is then terminated and that
        host's result has ``timed_out`` set).
        """

    def run_one(self, host: str, command: Command, *, timeout: float | None = None) -> HostResult:
        """Run ``command`` on a single host; the result is never an exception (see ``check``)."""
        return self.run(command, [host], timeout=timeout)[host]

    @abstractmethod
    def put(
        self,
        local: Path,
        remote: str,
        hosts: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
    ) -> GroupResult:
        """Copy the file or folder ``local`` to ``remote`` on ``hosts`` (default: all)."""

    @abstractmethod
    def get(
        self, host: str, remote: str, local: Path, *, timeout: float | None = None
    ) -> HostResult:
        """Copy the file or folder ``remote`` of ``host`` to ``local``."""

    @abstractmethod
    def wait_ready(self, hosts: Iterable[str] | None = None, *, timeout: float) -> GroupResult:
        """Wait until ``hosts`` accept connections (e.g. after a reboot), up to ``timeout``."""

    @abstractmethod
    def interactive_argv(self, host: str, command: Sequence[str] | None = None) -> list[str]:
        """The command line of an interactive session on ``host`` (for ``nxc connect``)."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection and release the transport's resources (idempotent)."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
