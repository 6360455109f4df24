"""Roles that wait for roles: activate each role's services once the roles it waits for are ready.

A composition's role may declare ``nxc.after`` (the roles it waits for) and ``nxc.readiness``
(a unit or a command telling when one of its nodes is ready); the build manifest carries both
(:class:`~nxc.manifest.Role`). Nodes boot in parallel; a role with ``after`` keeps the units
wanted by ``nxc-activate.target`` stopped until nxc runs the node command ``nxc-activate``
(``nxc/nix/modules/activation.nix``). :func:`activate` walks the roles level by level
(:func:`activation_levels`): it activates the level's waiting roles, then polls every node of the
level until its check passes, all within one overall timeout. Flavours play no part: nodes are
reached through a :class:`~nxc.transport.base.Transport`. A composition with neither ``after``
nor ``readiness`` costs nothing: no command is run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nxc.deployment import Deployment
from nxc.errors import NodeTimeoutError, TransportError
from nxc.fanout import HostResult
from nxc.manifest import Composition, Role, RoleCheck
from nxc.transport.base import Command, Transport

ACTIVATE_COMMAND = "nxc-activate"
"""The node command that starts ``nxc-activate.target`` (modules/activation.nix)."""

Progress = Callable[[str, str], None]
"""Called as ``progress(role, event)``, event ``"activating"`` or ``"ready"``."""

_DETAIL_LINES = 3
"""How many lines of a failed check's output an error shows."""


@dataclass(frozen=True)
class RoleActivation:
    """When one role was activated and became ready, in seconds since :func:`activate` began.

    ``activated_at`` is ``None`` for a role that waits for no role (activated at boot).
    """

    role: str
    activated_at: float | None
    ready_at: float


@dataclass(frozen=True)
class ActivationResult:
    """What :func:`activate` did: one :class:`RoleActivation` per role, in activation order."""

    roles: dict[str, RoleActivation] = field(default_factory=dict)
    commands_run: bool = False
    """Whether any command ran on the nodes (never for a composition without after/readiness)."""


def activation_levels(composition: Composition) -> list[list[str]]:
    """The composition's roles in dependency order, grouped in levels whose roles may be
    activated together; an unknown role or a cycle is a :class:`~nxc.errors.ManifestError`."""
    return composition.activation_levels()


def check_command(check: RoleCheck) -> Command:
    """The command that exits 0 on a node that passes ``check``. A unit is asked without
    ``--quiet`` so that its state (``activating``, ``failed``...) is the output errors show."""
    if check.unit is not None:
        return ["systemctl", "is-active", check.unit]
    return str(check.command)


def activate(
    deployment: Deployment,
    composition: Composition,
    transport: Transport,
    *,
    timeout: float,
    progress: Progress | None = None,
    poll: float = 1.0,
) -> ActivationResult:
    """Activate the deployment's roles in dependency order and wait until each is ready.

    For each level: run ``nxc-activate`` on the nodes of its roles that have ``after``, then
    poll every node of its roles with a readiness check until all pass. The whole walk is
    bounded by ``timeout`` seconds: past it, a :class:`~nxc.errors.NodeTimeoutError` names the
    roles and nodes not ready, their check and its last output. A failed ``nxc-activate`` is a
    :class:`~nxc.errors.TransportError`.
    """
    levels = activation_levels(composition)
    roles = {role.name: role for role in composition.roles}
    hosts = {name: _hosts_of(deployment, name) for name in roles}
    started = time.monotonic()
    deadline = started + timeout
    walk = _Walk(deployment.name, transport, started, deadline, timeout, poll, progress)
    for index, level in enumerate(levels):
        walk.activate_level([roles[name] for name in level], hosts)
        walk.wait_level([roles[name] for name in level], hosts, waiting=levels[index + 1 :])
    return ActivationResult(roles=walk.done, commands_run=walk.commands_run)


def _hosts_of(deployment: Deployment, role: str) -> list[str]:
    return [node.hostname for node in deployment.nodes if node.role == role]


@dataclass
class _Walk:
    """The state of one :func:`activate` call."""

    deployment_name: str
    transport: Transport
    started: float
    deadline: float
    timeout: float
    poll: float
    progress: Progress | None
    done: dict[str, RoleActivation] = field(default_factory=dict)
    activated_at: dict[str, float] = field(default_factory=dict)
    commands_run: bool = False

    def now(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def tell(self, role: str, event: str) -> None:
        if self.progress is not None:
            self.progress(role, event)

    def activate_level(self, level: list[Role], hosts: dict[str, list[str]]) -> None:
        """Run ``nxc-activate`` on every node of the level's roles that wait for others."""
        waiting = [role for role in level if role.after]
        targets = [host for role in waiting for host in hosts[role.name]]
        for role in waiting:
            self.activated_at[role.name] = self.now()
            self.tell(role.name, "activating")
        if not targets:
            return
        self.commands_run = True
        result = self.transport.run(ACTIVATE_COMMAND, targets, timeout=max(1.0, self.remaining()))
        if not result.ok:
            failures = "; ".join(
                f"{answer.host} ({_failure_line(answer)})" for answer in result.failed
            )
            raise TransportError(
                f"{self.deployment_name}: {ACTIVATE_COMMAND} failed on "
                f"{len(result.failed)} node(s): {failures}; check that the role's system "
                "imports nxc's activation module (rebuild it with 'nxc build') and that the "
                "node is up (nxc status --live)"
            )

    def wait_level(
        self, level: list[Role], hosts: dict[str, list[str]], waiting: list[list[str]]
    ) -> None:
        """Poll the level's nodes until every check passes; raise past the deadline."""
        pending = {role.name: list(hosts[role.name]) for role in level}
        last: dict[str, HostResult] = {}
        while True:
            for role in level:
                if role.readiness is None or not pending[role.name]:
                    continue
                self.commands_run = True
                result = self.transport.run(
                    check_command(role.readiness),
                    pending[role.name],
                    timeout=max(1.0, self.remaining()),
                )
                last.update({answer.host: answer for answer in result})
                pending[role.name] = [host for host in pending[role.name] if not result[host].ok]
            for role in level:
                if role.name not in self.done and (
                    role.readiness is None or not pending[role.name]
                ):
                    self.done[role.name] = RoleActivation(
                        role.name, self.activated_at.get(role.name), self.now()
                    )
                    self.tell(role.name, "ready")
            if all(role.name in self.done for role in level):
                return
            if self.remaining() <= 0:
                raise self._timeout_error(level, pending, last, waiting)
            time.sleep(max(0.0, min(self.poll, self.remaining())))

    def _timeout_error(
        self,
        level: list[Role],
        pending: dict[str, list[str]],
        last: dict[str, HostResult],
        waiting: list[list[str]],
    ) -> NodeTimeoutError:
        late = [role for role in level if pending[role.name] and role.name not in self.done]
        missing = [host for role in late for host in pending[role.name]]
        lines = [
            f"{self.deployment_name}: role(s) {', '.join(role.name for role in late)} not ready "
            f"within {self.timeout:.0f} s ({len(missing)} node(s): {', '.join(missing)})"
        ]
        for role in late:
            check = role.readiness.describe() if role.readiness is not None else "none"
            for host in pending[role.name]:
                lines.append(f"--- {host} ({role.name}, {check}): {_failure_line(last[host])}")
        behind = [name for level_names in waiting for name in level_names]
        if behind:
            lines.append(f"not activated, waiting behind them: {', '.join(behind)}")
        lines.append(
            "check those nodes' readiness (nxc.readiness) by hand on them (nxc connect), or "
            "give them more time with {timeout}"
        )
        return NodeTimeoutError.naming("\n".join(lines), "timeout", missing=missing)


def _failure_line(answer: HostResult) -> str:
    """Why ``answer`` failed, with the last lines of its output."""
    output = (answer.stdout + answer.stderr).strip().splitlines()
    shown = " | ".join(output[-_DETAIL_LINES:])
    return answer.describe_failure() + (f", last output: {shown}" if shown else "")
