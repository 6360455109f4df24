"""Waiting for nodes to be ready, and probing them, written once for every flavour.

A flavour says how one node is doing (:data:`ReadinessCheck`: waiting, booted, ready, or an
:class:`~nxc.errors.NxcError` when the node is dead); :func:`wait_until_ready` polls every
node at once, at most :data:`~nxc.limits.DEFAULT_CONCURRENCY` checks in flight, reports each
node's ``BOOTED`` then ``READY`` stage exactly once, runs an optional guard now and then (the
OAR job still alive), and returns the nodes still not ready when the time is up.
:func:`not_ready_error` is the one message for those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from nxc import limits
from nxc.deployment import NodeState
from nxc.errors import NodeTimeoutError
from nxc.flavours.base import LiveState, ProgressHook, Stage
from nxc.flavours.common.sshready import SshAnswer, other_key_error, ssh_answer

if TYPE_CHECKING:
    from nxc.deployment import Node

POLL_INTERVAL = 0.5
GUARD_INTERVAL = 5.0
DETAILED_NODES = 3
"""How many of the nodes not ready a timeout message shows in detail."""


class Readiness(Enum):
    """How one node is doing while it comes up."""

    WAITING = "waiting"
    BOOTED = "booted"  # its system says it is up (console or log line), SSH not checked yet
    READY = "ready"  # SSH answers with the pinned host key


async def ssh_readiness(node: Node, booted: bool, timeout: float) -> Readiness:
    """SSH's part of one look at ``node``: ready when it answers with the pinned host key
    (within ``timeout`` seconds), else booted if its system said so, else waiting;
    :class:`~nxc.errors.TransportError` when another key answers."""
    answer = await ssh_answer(node.ssh_host, node.ssh_port, node.host_key or "", timeout)
    if answer is SshAnswer.OTHER_KEY:
        raise other_key_error(node.hostname, node.ssh_host, node.ssh_port)
    if answer is SshAnswer.PINNED:
        return Readiness.READY
    return Readiness.BOOTED if booted else Readiness.WAITING


ReadinessCheck = Callable[["Node", bool, float], Awaitable[Readiness]]
"""``check(node, booted, remaining)``: one look at ``node`` (``booted``: seen booted before),
taking at most ``remaining`` seconds; raises an ``NxcError`` when the node can't come up."""

Guard = Callable[[], None]
"""Called (in a thread) every :data:`GUARD_INTERVAL` s while nodes are waited for; raises to
stop the wait (e.g. the OAR job holding the hosts ended)."""


async def wait_until_ready(
    nodes: Sequence[Node],
    check: ReadinessCheck,
    timeout: float,
    progress: ProgressHook,
    guard: Guard | None = None,
    concurrency: int = limits.DEFAULT_CONCURRENCY,
    poll_interval: float = POLL_INTERVAL,
) -> list[Node]:
    """Wait until every node is ready (its state set to ``ready``); those still not ready
    after ``timeout`` seconds, in order. A check's error stops the wait at once."""
    deadline = time.monotonic() + timeout
    waiting = {node.hostname for node in nodes}
    booted: set[str] = set()
    slots = asyncio.Semaphore(concurrency)

    def seen_booted(node: Node) -> None:
        if node.hostname not in booted:
            booted.add(node.hostname)
            progress(node.hostname, Stage.BOOTED)

    async def watch(node: Node) -> None:
        while time.monotonic() < deadline:
            async with slots:
                remaining = max(deadline - time.monotonic(), 0.1)
                state = await check(node, node.hostname in booted, remaining)
            if state is not Readiness.WAITING:
                seen_booted(node)
            if state is Readiness.READY:
                waiting.discard(node.hostname)
                node.state = NodeState.ready
                progress(node.hostname, Stage.READY)
                return
            await asyncio.sleep(poll_interval)

    async def keep_guarding() -> None:
        assert guard is not None
        while waiting and time.monotonic() < deadline:
            await asyncio.sleep(GUARD_INTERVAL)
            await asyncio.to_thread(guard)

    nodes_done = asyncio.gather(*(watch(node) for node in nodes))
    watchers: list[asyncio.Future[Any]] = [nodes_done]
    if guard is not None:
        watchers.append(asyncio.ensure_future(keep_guarding()))
    try:
        done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            finished.result()
        await nodes_done
    finally:
        # No await here: an interrupting signal may be unwinding asyncio.run, whose loop is
        # closing; it cancels and collects what is left itself.
        for watcher in watchers:
            watcher.cancel()
            watcher.add_done_callback(_retrieved)
    return [node for node in nodes if node.hostname in waiting]


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Take a cancelled watcher's outcome, so asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


ProbeCheck = Callable[["Node"], Awaitable[LiveState]]


async def probe_all(
    nodes: Sequence[Node], probe: ProbeCheck, concurrency: int = limits.DEFAULT_CONCURRENCY
) -> dict[str, LiveState]:
    """Each node's live state by hostname, at most ``concurrency`` probes at once."""
    slots = asyncio.Semaphore(concurrency)

    async def one(node: Node) -> LiveState:
        async with slots:
            return await probe(node)

    states = await asyncio.gather(*(one(node) for node in nodes))
    return {node.hostname: state for node, state in zip(nodes, states, strict=True)}


def not_ready_error(
    deployment_name: str,
    missing: dict[str, str],
    timeout: float,
    details: Callable[[str], str],
    hint: str,
    attempts: int = 1,
) -> NodeTimeoutError:
    """The error for nodes not ready in time: ``missing`` maps each hostname to why (in
    node order), ``details(hostname)`` gives what to show of the first few (their last
    console lines), ``hint`` what to check; it names ``timeout`` (and ``retries``)."""
    names = ", ".join(missing)
    tried = f" ({attempts} attempt(s))" if attempts > 1 else ""
    lines = [
        f"{len(missing)} node(s) of {deployment_name} were not ready within {timeout:.0f} s"
        f"{tried}: {names}"
    ]
    for hostname in list(missing)[:DETAILED_NODES]:
        shown = details(hostname)
        lines.append(f"--- {hostname}: {missing[hostname]}" + (f"\n{shown}" if shown else ""))
    if len(missing) > DETAILED_NODES:
        lines.append(f"(and {len(missing) - DETAILED_NODES} more)")
    retries = " or {retries}" if attempts > 1 else ""
    lines.append(f"{hint}; raise the wait with {{timeout}}{retries} if the machine is slow")
    names_used = ("timeout", "retries") if attempts > 1 else ("timeout",)
    return NodeTimeoutError.naming("\n".join(lines), *names_used, missing=list(missing))
