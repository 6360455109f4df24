"""Group operations over many nodes, with one result per host instead of a first exception.

:class:`HostResult` is what one host answered (exit status, output, duration, or why it could
not answer); :class:`GroupResult` gathers them in the order the hosts were asked and tells which
succeeded and which failed. :func:`fan_out` runs one coroutine per host concurrently and turns
unexpected exceptions into failed results, so one broken node never hides the others' answers;
given a ``limit``, at most that many run at once. :func:`run_bounded` does the same for a
blocking operation (e.g. one OpenSSH child per host) on a pool of at most ``limit`` threads,
never one thread per host (see :mod:`nxc.limits` for the default and the open-file limit).
:func:`select_nodes` picks the nodes of a deployment by role or hostname.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from nxc.errors import InputError, NxcError, TransportError
from nxc.limits import check_concurrency


@dataclass
class HostResult:
    """Outcome of one operation on one host.

    ``exit_status`` is the remote command's status (negative signal number when killed by a
    signal; 0 for a successful copy), ``None`` when the operation did not complete, in which
    case ``error`` says why (unreachable, host key refused, timeout...).
    """

    host: str
    exit_status: int | None = None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    error: str | None = None
    timed_out: bool = False
    refused: bool = False
    """The node answered but was refused for good (its host key is not the pinned one):
    retrying cannot help, unlike an unreachable node."""

    @property
    def ok(self) -> bool:
        """Whether the operation completed with exit status 0."""
        return self.error is None and self.exit_status == 0

    def describe_failure(self) -> str:
        """A short reason, e.g. ``exit status 2`` or ``timed out after 5.0 s``."""
        if self.error is not None:
            return self.error
        if self.exit_status is not None and self.exit_status < 0:
            return f"killed by signal {-self.exit_status}"
        return f"exit status {self.exit_status}"

    def check(self) -> HostResult:
        """Return self if it succeeded, else raise :class:`TransportError` with its output."""
        if not self.ok:
            detail = (self.stderr or self.stdout).strip()
            tail = f": {detail.splitlines()[-1]}" if detail else ""
            reason = self.describe_failure()
            if not reason.startswith(self.host):
                reason = f"{self.host}: {reason}"
            raise TransportError(f"{reason}{tail}")
        return self


@dataclass
class GroupResult:
    """Per-host results of one group operation, in the order the hosts were given."""

    results: dict[str, HostResult]

    def __getitem__(self, host: str) -> HostResult:
        return self.results[host]

    def __iter__(self) -> Iterator[HostResult]:
        return iter(self.results.values())

    def __len__(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> bool:
        """Whether every host succeeded."""
        return all(result.ok for result in self)

    @property
    def succeeded(self) -> list[HostResult]:
        """The results of the hosts that succeeded, in order."""
        return [result for result in self if result.ok]

    @property
    def failed(self) -> list[HostResult]:
        """The results of the hosts that failed or could not answer, in order."""
        return [result for result in self if not result.ok]

    def summary(self) -> str:
        """One line: how many failed and why, e.g. ``2/16 failed: node3 (exit status 1), ...``."""
        failed = self.failed
        if not failed:
            return f"all {len(self)} hosts succeeded"
        reasons = ", ".join(f"{r.host} ({r.describe_failure()})" for r in failed)
        return f"{len(failed)}/{len(self)} failed: {reasons}"

    def check(self) -> GroupResult:
        """Return self if every host succeeded, else raise :class:`TransportError`."""
        if not self.ok:
            raise TransportError(self.summary())
        return self


def _failure(host: str, error: Exception, start: float) -> HostResult:
    """The failed result of ``host`` whose operation raised ``error``."""
    named = isinstance(error, NxcError)
    message = str(error) if named else f"{type(error).__name__}: {error}"
    return HostResult(host, error=message, duration=time.monotonic() - start)


async def fan_out(
    hosts: Sequence[str],
    operation: Callable[[str], Awaitable[HostResult]],
    limit: int | None = None,
) -> GroupResult:
    """Run ``operation(host)`` for every host concurrently and collect every result.

    An exception from one host becomes that host's failed result (``error`` set); the others
    run to completion. Without ``limit`` every host runs at once and any bound belongs to the
    operation (the transport's semaphore); with it, at most ``limit`` operations are in flight.
    """
    gate = asyncio.Semaphore(check_concurrency(limit)) if limit is not None else None

    async def guarded(host: str) -> HostResult:
        start = time.monotonic()
        try:
            if gate is None:
                return await operation(host)
            async with gate:
                start = time.monotonic()
                return await operation(host)
        except Exception as error:
            return _failure(host, error, start)

    answers = await asyncio.gather(*(guarded(host) for host in hosts))
    return GroupResult({answer.host: answer for answer in answers})


def run_bounded(
    hosts: Sequence[str], operation: Callable[[str], HostResult], limit: int
) -> GroupResult:
    """Run the blocking ``operation(host)`` for every host, at most ``limit`` at once.

    The pool has ``min(limit, len(hosts))`` threads; an exception from one host becomes its
    failed result, as in :func:`fan_out`. Results come in the order of ``hosts``.
    """
    check_concurrency(limit)

    def guarded(host: str) -> HostResult:
        start = time.monotonic()
        try:
            return operation(host)
        except Exception as error:
            return _failure(host, error, start)

    if not hosts:
        return GroupResult({})
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(limit, len(hosts))) as pool:
        answers = list(pool.map(guarded, hosts))
    return GroupResult({answer.host: answer for answer in answers})


class RoleNode(Protocol):
    """What :func:`select_nodes` needs of a node."""

    hostname: str
    role: str


N = TypeVar("N", bound=RoleNode)


def select_nodes(
    nodes: Iterable[N], roles: Sequence[str] = (), hosts: Sequence[str] = ()
) -> list[N]:
    """The nodes having one of ``roles`` or one of the hostnames ``hosts`` (all when both empty).

    Unknown roles or hostnames are an :class:`InputError` listing what exists.
    """
    nodes = list(nodes)
    if not roles and not hosts:
        return nodes
    known_roles = sorted({node.role for node in nodes})
    known_hosts = [node.hostname for node in nodes]
    unknown_roles = [role for role in roles if role not in known_roles]
    if unknown_roles:
        raise InputError(
            f"no role {', '.join(unknown_roles)} in this deployment; roles: {', '.join(known_roles)}"
        )
    unknown_hosts = [host for host in hosts if host not in known_hosts]
    if unknown_hosts:
        raise InputError(
            f"no node {', '.join(unknown_hosts)} in this deployment; "
            f"nodes: {', '.join(known_hosts)}"
        )
    return [node for node in nodes if node.role in roles or node.hostname in hosts]
