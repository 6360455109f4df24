"""Running a sweep: the tool on the selected client nodes in parallel, through ``execo.Remote``
with the deployment's connection parameters (its key and pinned host keys)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from nxc.bench.fio import FioSettings, cleanup_command, fio_command, parse_fio_json
from nxc.bench.ior import IorSettings, ior_command, parse_ior_output
from nxc.bench.mdtest import MdtestSettings, mdtest_command, parse_mdtest_output
from nxc.bench.results import BenchResult, BenchRun
from nxc.bench.sweep import SweepPoint, SweepSpec
from nxc.errors import InputError, RemoteToolMissingError, TransportError

if TYPE_CHECKING:
    from nxc.api import Environment

ProgressCallback = Callable[[SweepPoint, BenchResult], None]
CHECK_TIMEOUT = 60.0
#: The exit code of OpenSSH's client when it could not connect or the connection failed.
SSH_FAILED = 255


class _Clients:
    """The client nodes of a role and how execo reaches them."""

    def __init__(self, env: Environment, role: str) -> None:
        self.nodes = env.nodes(role)
        if not self.nodes:
            raise InputError(f"--role {role}: the deployment has no node of this role")
        self.hosts = env.execo_hosts(role)
        self.params = env.execo_connection_params()

    def run(self, commands: list[str], timeout: float | None, what: str) -> list[tuple[str, Any]]:
        """Run ``commands[i]`` on client ``i`` in parallel; (hostname, execo process) pairs."""
        from execo import ParallelActions, Remote

        remotes = [
            Remote(
                command,
                [host],
                connection_params=self.params,
                name=f"nxc bench: {what}",
                process_args={"timeout": timeout, "nolog_exit_code": True, "nolog_timeout": True,
                              "ignore_exit_code": True, "ignore_timeout": True},
            )
            for command, host in zip(commands, self.hosts, strict=False)
        ]  # fmt: skip
        ParallelActions(remotes).run()
        return [
            (node.hostname, remote.processes[0])
            for node, remote in zip(self.nodes, remotes, strict=False)
        ]

    def require(self, program: str, tool: str) -> None:
        """Raise :class:`MissingToolError` naming the nodes where ``program`` is missing."""
        check = f"command -v {shlex.quote(program)} >/dev/null"
        runs = self.run([check] * len(self.nodes), CHECK_TIMEOUT, "tool check")
        unreachable = [host for host, process in runs if exit_code(process) == SSH_FAILED]
        if unreachable:
            raise TransportError(
                f"cannot reach {', '.join(unreachable)} over SSH; check 'nxc status' "
                "and that the deployment is running"
            )
        missing = [host for host, process in runs if not _succeeded(process)]
        if missing:
            raise RemoteToolMissingError(
                program,
                missing,
                "install it on those nodes (NixOS: add it to the role's "
                f"environment.systemPackages, e.g. pkgs.{tool}), or give its path with --program",
            )


def exit_code(process: Any) -> int | None:
    """The exit code of an execo process (``-N`` when killed by signal N), ``None`` if it has
    none.

    execo 2.8 stores the raw wait status of the local ``ssh`` (65280 for exit 255), other
    versions (and ``TaktukRemote``) the decoded code: a value past 255 is a wait status and is
    decoded; a value up to 255 is taken as an exit code (so the raw status of a process killed
    by a signal, 1 to 127, reads as that exit code: still a failure).
    """
    value = process.exit_code
    if value is None:
        return None
    if value > 255:
        return os.waitstatus_to_exitcode(value)
    return value


def _succeeded(process: Any) -> bool:
    """Whether an execo process ran to the end with exit code 0 (``ok`` ignores exit codes
    here, since they are ignored to keep execo quiet)."""
    return process.finished_ok and exit_code(process) == 0 and not process.timeouted


def _failure(host: str, process: Any, point: SweepPoint) -> TransportError:
    if process.timeouted:
        reason = "timed out (raise --timeout)"
    else:
        reason = f"exited with {exit_code(process)}"
    tail = (process.stderr or process.stdout or "").strip().splitlines()[-3:]
    return TransportError(f"{point.label} on {host}: {reason}: {' | '.join(tail)}")


def _run_points(
    clients: _Clients,
    run: BenchRun,
    points: list[SweepPoint],
    command_for: Callable[[SweepPoint, str, int], str],
    parse: Callable[[str, SweepPoint, str], dict[str, float]],
    timeout: float | None,
    progress: ProgressCallback | None,
) -> None:
    """Run each point on its first ``clients`` nodes at once; append results to ``run``."""
    for point in points:
        selected = clients.nodes[: point.clients]
        commands = [command_for(point, node.hostname, i) for i, node in enumerate(selected)]
        per_host = {}
        for host, process in clients.run(commands, timeout, point.label):
            if not _succeeded(process):
                raise _failure(host, process, point)
            per_host[host] = parse(process.stdout, point, f"{point.label} on {host}")
        result = BenchResult(point, per_host)
        run.results.append(result)
        if progress is not None:
            progress(point, result)


def run_fio_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: FioSettings,
    *,
    timeout: float | None = 600.0,
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """Run fio for every point of ``spec`` on the first ``clients`` nodes of ``role``; the
    files it wrote are removed at the end, even after a failure."""
    clients = _Clients(env, role)
    points = spec.points(len(clients.nodes))
    clients.require(settings.program, "fio")
    run = BenchRun("fio", env.name, role, asdict(settings))
    try:
        _run_points(
            clients,
            run,
            points,
            lambda point, host, index: fio_command(settings, point, host, index),
            lambda text, point, where: parse_fio_json(text, where),
            timeout,
            progress,
        )
    finally:
        cleanups = [cleanup_command(settings, node.hostname) for node in clients.nodes]
        clients.run(cleanups, CHECK_TIMEOUT, "cleanup")
    return run


def run_ior_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: IorSettings,
    *,
    timeout: float | None = 600.0,
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """Run IOR for every point of ``spec`` on the first ``clients`` nodes of ``role``.

    Each client runs its own IOR (``jobs`` MPI ranks through ``settings.launcher`` when more
    than one); numbers are summed over clients like fio's.
    """
    clients = _Clients(env, role)
    points = spec.points(len(clients.nodes))
    clients.require(settings.program, "ior")
    run = BenchRun("ior", env.name, role, asdict(settings))
    _run_points(
        clients,
        run,
        points,
        lambda point, host, index: ior_command(settings, point, host),
        lambda text, point, where: parse_ior_output(text, point.operation, where),
        timeout,
        progress,
    )
    return run


def run_mdtest_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: MdtestSettings,
    *,
    timeout: float | None = 600.0,
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """Run mdtest's phases (the sweep's operations, in order) for every point of ``spec`` on
    the first ``clients`` nodes of ``role``; rates are summed over clients."""
    clients = _Clients(env, role)
    points = spec.points(len(clients.nodes))
    clients.require(settings.program, "mdtest")
    run = BenchRun("mdtest", env.name, role, asdict(settings))
    _run_points(
        clients,
        run,
        points,
        lambda point, host, index: mdtest_command(settings, point, host),
        lambda text, point, where: parse_mdtest_output(
            text, point.operation, settings.files, where
        ),
        timeout,
        progress,
    )
    return run
