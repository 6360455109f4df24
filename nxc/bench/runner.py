"""Running a sweep: the tool on the selected client nodes in parallel, through ``execo.Remote``
with the deployment's connection parameters (its key and pinned host keys).

Each client is reached over one SSH connection for the whole sweep: an OpenSSH master
(``ControlMaster``) is opened per client first, every run goes through it, and it is closed at
the end. Runs are repeated (``repeat``), measured again on the clients' local disk when a
``local_directory`` is given (the upper bound the report compares with), and recorded in a
:class:`~nxc.bench.state.SweepState` so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc import interrupts
from nxc.bench.fio import FioSettings, cleanup_command, fio_command, parse_fio_json
from nxc.bench.ior import IorSettings, ior_command, parse_ior_output
from nxc.bench.mdtest import MdtestSettings, mdtest_command, parse_mdtest_output
from nxc.bench.results import BenchResult, BenchRun, HostNumbers
from nxc.bench.state import Group, RunKey, SweepState, describe, groups_of, run_keys
from nxc.bench.sweep import SweepPoint, SweepSpec
from nxc.errors import InputError, RemoteToolMissingError, TransportError

if TYPE_CHECKING:
    from nxc.api import Environment

ProgressCallback = Callable[[RunKey, SweepPoint, HostNumbers], None]
"""Called after each point of each run: the run, the point, each client's numbers."""
CHECK_TIMEOUT = 60.0
#: The exit code of OpenSSH's client when it could not connect or the connection failed.
SSH_FAILED = 255
#: Seconds an SSH master stays up without clients: bounds it if nxc dies without closing it.
#: Long, since the last clients sit idle through the points that use fewer clients (a master
#: gone early only costs reuse: runs then connect on their own).
MASTER_IDLE = 3600


class Clients:
    """The client nodes of a role and how execo reaches them.

    Used as a context manager with ``reuse_connections`` (the default), it opens one SSH master
    connection per client on entry and closes them on exit; every :meth:`run` in between goes
    through them. Without it, each command opens its own connection (execo's default).
    """

    def __init__(self, env: Environment, role: str, reuse_connections: bool = True) -> None:
        self.nodes = env.nodes(role)
        if not self.nodes:
            raise InputError(f"--role {role}: the deployment has no node of this role")
        self.hosts = env.execo_hosts(role)
        self.params = env.execo_connection_params()
        self.reuse_connections = reuse_connections
        self._control_dir: str | None = None

    def __enter__(self) -> Clients:
        if self.reuse_connections:
            self._open_masters()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ssh_argv(self, host: Any, *options: str) -> list[str]:
        """OpenSSH's command line for ``host`` with the deployment's options and ``options``."""
        return [
            "ssh", *self.params["ssh_options"], "-i", self.params["keyfile"],
            "-o", f"User={self.params['user']}", "-o", f"Port={host.port or 22}",
            *options, host.address,
        ]  # fmt: skip

    def _ssh_on_each(self, *options: str) -> None:
        """Run ``ssh OPTIONS host`` for every client at once, silently; wait for them all."""
        quiet = subprocess.DEVNULL
        processes = [
            subprocess.Popen(
                self._ssh_argv(host, *options), stdin=quiet, stdout=quiet, stderr=quiet
            )
            for host in self.hosts
        ]
        for process in processes:
            process.wait()

    def _open_masters(self) -> None:
        # a short folder: a socket's path must fit in 108 bytes; %C hashes host, port, user
        self._control_dir = tempfile.mkdtemp(prefix="nxc-ssh-", dir="/tmp")
        control = ("-o", f"ControlPath={self._control_dir}/%C")
        # -N -f: no command, to the background once connected. A client it could not reach is
        # reported by the tool check, whose ssh then connects on its own.
        self._ssh_on_each(*control, "-o", "ControlMaster=yes",
                          "-o", f"ControlPersist={MASTER_IDLE}", "-N", "-f")  # fmt: skip
        self.params = {
            **self.params,
            "ssh_options": (*self.params["ssh_options"], *control, "-o", "ControlMaster=no"),
        }

    def close(self) -> None:
        """Close the SSH masters (idempotent)."""
        if self._control_dir is None:
            return
        self._ssh_on_each("-o", f"ControlPath={self._control_dir}/%C", "-O", "exit")
        shutil.rmtree(self._control_dir, ignore_errors=True)
        self._control_dir = None

    def run(self, commands: list[str], timeout: float | None, what: str) -> list[tuple[str, Any]]:
        """Run ``commands[i]`` on client ``i`` in parallel; (hostname, execo process) pairs.
        An interrupt kills the local ``ssh`` processes before going on."""
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
        actions = ParallelActions(remotes)
        try:
            actions.run()
        except BaseException:
            with interrupts.shielded():
                actions.kill()
            raise
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


@dataclass(frozen=True)
class Tool:
    """How a benchmark program is run and read: the nixpkgs package to suggest when it is
    missing, its command line for a point on a host (with the client's index), its output
    parser, and the command removing its files (if any)."""

    package: str
    command: Callable[[Any, SweepPoint, str, int], str]
    parse: Callable[[Any, str, SweepPoint, str], dict[str, float]]
    cleanup: Callable[[Any, str], str] | None = None


TOOLS = {
    "fio": Tool(
        "fio", fio_command,
        lambda settings, text, point, where: parse_fio_json(text, where),
        cleanup_command,
    ),
    "ior": Tool(
        "ior",
        lambda settings, point, host, index: ior_command(settings, point, host),
        lambda settings, text, point, where: parse_ior_output(text, point.operation, where),
    ),
    "mdtest": Tool(
        "mdtest",
        lambda settings, point, host, index: mdtest_command(settings, point, host),
        lambda settings, text, point, where: parse_mdtest_output(
            text, point.operation, settings.files, where
        ),
    ),
}  # fmt: skip
"""The drivers :func:`run_sweep` knows, by name."""


@dataclass(frozen=True)
class SweepOptions:
    """How a sweep is run, besides what it measures.

    ``repeat``: runs per point. ``local_directory``: also run every point there (the clients'
    local disk, ``{host}`` = hostname), ``None`` for no baseline. ``state_dir``: where the
    resumable state lives (``None``: a temporary folder, no resume). ``restart``: discard a
    previous state there. ``label``: the file system's name in reports.
    """

    repeat: int = 1
    local_directory: str | None = None
    state_dir: Path | None = None
    restart: bool = False
    label: str = ""
    timeout: float | None = 600.0
    reuse_connections: bool = True


def run_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: FioSettings | IorSettings | MdtestSettings,
    tool: str,
    options: SweepOptions = SweepOptions(),
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """Run ``tool`` for every point of ``spec`` on the first ``clients`` nodes of ``role``,
    ``options.repeat`` times, on ``settings.directory`` and (with a baseline) on
    ``options.local_directory``; runs already done in ``options.state_dir`` are not redone.
    The files the runs wrote are removed at the end, even after a failure or an interrupt."""
    if options.repeat < 1:
        raise InputError(f"--repeat {options.repeat}: give at least 1")
    if tool not in TOOLS:
        raise InputError(f"unknown benchmark tool {tool!r}; use {', '.join(TOOLS)}")
    driver = TOOLS[tool]
    with Clients(env, role, options.reuse_connections) as clients:
        groups = groups_of(spec.points(len(clients.nodes)))
        keys = run_keys(len(groups), options.repeat, options.local_directory is not None)
        definition = json_round_trip({
            "tool": tool, "deployment": env.name, "role": role,
            "clients": [node.hostname for node in clients.nodes], "settings": asdict(settings),
            "groups": describe(groups), "repeat": options.repeat,
            "local_directory": options.local_directory,
        })  # fmt: skip
        with contextlib.ExitStack() as stack:
            folder = options.state_dir
            if folder is None:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nxc-")))
            state = stack.enter_context(SweepState(folder, definition, keys))
            state.open(restart=options.restart)
            targets = {"fs": settings}
            if options.local_directory is not None:
                targets["local"] = dataclasses.replace(settings, directory=options.local_directory)
            if state.pending():
                clients.require(settings.program, driver.package)
                _run_pending(clients, state, groups, driver, targets, options, progress)
            run = BenchRun(
                tool, env.name, role, asdict(settings),
                started_at=(folder / "definition.json").stat().st_mtime,
                label=options.label, repeat=options.repeat,
                local_directory=options.local_directory,
            )  # fmt: skip
            run.results = _collect(state, groups, options)
    return run


def json_round_trip(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(document))


def _run_pending(
    clients: Clients,
    state: SweepState,
    groups: list[Group],
    driver: Tool,
    targets: dict[str, Any],
    options: SweepOptions,
    progress: ProgressCallback | None,
) -> None:
    """Do every run not done yet, then remove the files they wrote."""
    try:
        while (key := state.next()) is not None:
            try:
                numbers = _run_group(clients, groups[key.group], driver, targets[key.target],
                                     key, options.timeout, progress)  # fmt: skip
            except BaseException:
                with interrupts.shielded():
                    state.cancel(key)
                raise
            state.done(key, numbers)
    finally:
        if driver.cleanup is not None:
            with interrupts.shielded():
                for settings in targets.values():
                    cleanups = [driver.cleanup(settings, node.hostname) for node in clients.nodes]
                    clients.run(cleanups, CHECK_TIMEOUT, "cleanup")


def _run_group(
    clients: Clients,
    group: Group,
    driver: Tool,
    settings: Any,
    key: RunKey,
    timeout: float | None,
    progress: ProgressCallback | None,
) -> dict[str, HostNumbers]:
    """Run the group's points in order on its first ``clients`` nodes at once."""
    numbers = {}
    for point in group.points():
        selected = clients.nodes[: point.clients]
        commands = [driver.command(settings, point, node.hostname, i)
                    for i, node in enumerate(selected)]  # fmt: skip
        per_host = {}
        for host, process in clients.run(commands, timeout, point.label):
            if not _succeeded(process):
                raise _failure(host, process, point)
            where = f"{point.label} on {host}"
            per_host[host] = driver.parse(settings, process.stdout, point, where)
        numbers[point.operation] = per_host
        if progress is not None:
            progress(key, point, per_host)
    return numbers


def _collect(state: SweepState, groups: list[Group], options: SweepOptions) -> list[BenchResult]:
    """Every point's results, from the runs' recorded numbers."""
    results = []
    local = options.local_directory is not None
    for index, group in enumerate(groups):
        fs = [state.numbers(RunKey(index, r, "fs")) for r in range(options.repeat)]
        disk = [state.numbers(RunKey(index, r, "local")) for r in range(options.repeat) if local]
        for point in group.points():
            op = point.operation
            results.append(BenchResult(
                point,
                tuple(run[op] for run in fs),
                tuple(run[op] for run in disk),
            ))  # fmt: skip
    return results


def run_fio_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: FioSettings,
    options: SweepOptions = SweepOptions(),
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """:func:`run_sweep` with fio."""
    return run_sweep(env, role, spec, settings, "fio", options, progress)


def run_ior_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: IorSettings,
    options: SweepOptions = SweepOptions(),
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """:func:`run_sweep` with IOR: each client runs its own IOR (``jobs`` MPI ranks through
    ``settings.launcher`` when more than one); numbers are summed over clients like fio's."""
    return run_sweep(env, role, spec, settings, "ior", options, progress)


def run_mdtest_sweep(
    env: Environment,
    role: str,
    spec: SweepSpec,
    settings: MdtestSettings,
    options: SweepOptions = SweepOptions(),
    progress: ProgressCallback | None = None,
) -> BenchRun:
    """:func:`run_sweep` with mdtest: the sweep's operations are its phases, in order, on the
    same tree; rates are summed over clients."""
    return run_sweep(env, role, spec, settings, "mdtest", options, progress)
