"""``nxc bench``: fio, IOR or mdtest parameter sweeps on a started deployment's client nodes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nxc.cli.run import DeploymentNameOption, DeploymentTagOption

if TYPE_CHECKING:
    from nxc.bench.results import BenchRun, HostNumbers
    from nxc.bench.state import RunKey
    from nxc.bench.sweep import SweepPoint, SweepSpec

bench_app = typer.Typer(
    help="Benchmark sweeps (fio, IOR, mdtest) on client nodes.",
    no_args_is_help=True,
)

RoleOption = Annotated[str, typer.Option("--role", "-r", help="Role of the client nodes.")]
DirOption = Annotated[
    str,
    typer.Option("--dir", help="Folder on the clients to write in ({host} = the node's hostname)."),
]
SizesOption = Annotated[
    str, typer.Option("--sizes", help="Block (transfer) sizes to sweep, e.g. 4k,1M.")
]
JobsOption = Annotated[str, typer.Option("--jobs", help="Processes per client to sweep, e.g. 1,4.")]
ClientsOption = Annotated[
    str | None, typer.Option("--clients", help="Client counts to sweep (default: all of the role).")
]
ModesOption = Annotated[
    str, typer.Option("--modes", help="fpp (file per process), shared (one file), or both.")
]
RwOption = Annotated[str, typer.Option("--rw", help="Operations in order, e.g. write,read.")]
SizeOption = Annotated[str, typer.Option("--size", help="Bytes per process, e.g. 64M.")]
ProgramOption = Annotated[
    str | None, typer.Option("--program", help="The tool's path on the nodes (default: on PATH).")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds each run may take on each node.", min=0.001)
]
OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output", "-o",
        help="File stem under artifact/bench (default: TOOL-DEPLOYMENT); the same stem resumes.",
    ),
]  # fmt: skip
RepeatOption = Annotated[
    int, typer.Option("--repeat", help="Runs per point (mean and spread reported).", min=1)
]
LocalDirOption = Annotated[
    str,
    typer.Option(
        "--local-dir",
        help="Folder on the clients' local disk where every point runs again as the upper "
        "bound ({host} = hostname).",
    ),
]
NoLocalOption = Annotated[
    bool, typer.Option("--no-local", help="Do not measure the local-disk baseline.")
]
RestartOption = Annotated[
    bool,
    typer.Option("--restart", help="Discard the unfinished or finished sweep of this stem first."),
]
LabelOption = Annotated[
    str | None,
    typer.Option(
        "--label",
        help="The file system's name in reports (default: the composition's or project's name).",
    ),
]
LOCAL_DIR = "/var/tmp/nxc-bench-local/{host}"


def fio(
    directory: DirOption,
    role: RoleOption = "client",
    sizes: SizesOption = "1M",
    jobs: JobsOption = "1",
    clients: ClientsOption = None,
    modes: ModesOption = "fpp",
    rw: RwOption = "write,read",
    size: SizeOption = "16M",
    runtime: Annotated[
        float | None, typer.Option("--runtime", help="Seconds per run (time based).", min=0.001)
    ] = None,
    direct: Annotated[bool, typer.Option("--direct", help="O_DIRECT I/O.")] = False,
    program: ProgramOption = None,
    timeout: TimeoutOption = 600.0,
    repeat: RepeatOption = 1,
    local_dir: LocalDirOption = LOCAL_DIR,
    no_local: NoLocalOption = False,
    restart: RestartOption = False,
    label: LabelOption = None,
    output: OutputOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
) -> None:
    """Sweep fio over block sizes x clients x jobs x file layout; write results, a report and
    plots; print a summary table."""
    from nxc.bench.fio import FioSettings
    from nxc.bench.sweep import SweepSpec, parse_size

    spec = SweepSpec.parse(sizes, jobs, clients, modes, rw)
    settings = FioSettings(
        directory=directory,
        size=parse_size(size, "--size"),
        program=program or "fio",
        runtime=runtime,
        direct=direct,
    )
    _sweep("fio", spec, settings, _Options(role, timeout, repeat, None if no_local else local_dir,
                                           restart, label, output, name, tag))  # fmt: skip


def ior(
    directory: DirOption,
    role: RoleOption = "client",
    sizes: SizesOption = "1M",
    jobs: JobsOption = "1",
    clients: ClientsOption = None,
    modes: ModesOption = "fpp",
    rw: RwOption = "write,read",
    size: SizeOption = "16M",
    program: ProgramOption = None,
    timeout: TimeoutOption = 600.0,
    repeat: RepeatOption = 1,
    local_dir: LocalDirOption = LOCAL_DIR,
    no_local: NoLocalOption = False,
    restart: RestartOption = False,
    label: LabelOption = None,
    output: OutputOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
) -> None:
    """Sweep IOR (MPI ranks = --jobs per client); write results, a report and plots."""
    from nxc.bench.ior import IorSettings
    from nxc.bench.sweep import SweepSpec, parse_size

    spec = SweepSpec.parse(sizes, jobs, clients, modes, rw, ("write", "read"))
    settings = IorSettings(directory=directory, size=parse_size(size, "--size"),
                           program=program or "ior")  # fmt: skip
    _sweep("ior", spec, settings, _Options(role, timeout, repeat, None if no_local else local_dir,
                                           restart, label, output, name, tag))  # fmt: skip


def mdtest(
    directory: DirOption,
    role: RoleOption = "client",
    sizes: Annotated[
        str, typer.Option("--sizes", help="Bytes written to and read from each file, e.g. 4k.")
    ] = "4k",
    jobs: JobsOption = "1",
    clients: ClientsOption = None,
    modes: Annotated[
        str,
        typer.Option("--modes", help="fpp (a directory per process), shared (one), or both."),
    ] = "fpp",
    rw: Annotated[
        str, typer.Option("--rw", help="mdtest phases in order: create, stat, read, remove.")
    ] = "create,stat,read,remove",
    files: Annotated[int, typer.Option("--files", help="Files per process.", min=1)] = 1000,
    program: ProgramOption = None,
    timeout: TimeoutOption = 600.0,
    repeat: RepeatOption = 1,
    local_dir: LocalDirOption = LOCAL_DIR,
    no_local: NoLocalOption = False,
    restart: RestartOption = False,
    label: LabelOption = None,
    output: OutputOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
) -> None:
    """Sweep mdtest's metadata phases (MPI ranks = --jobs per client); write results, a
    report and plots."""
    from nxc.bench.mdtest import OPERATIONS, MdtestSettings
    from nxc.bench.sweep import SweepSpec

    spec = SweepSpec.parse(sizes, jobs, clients, modes, rw, OPERATIONS)
    settings = MdtestSettings(directory=directory, files=files, program=program or "mdtest")
    _sweep("mdtest", spec, settings, _Options(role, timeout, repeat,
                                              None if no_local else local_dir, restart, label,
                                              output, name, tag))  # fmt: skip


@dataclass(frozen=True)
class _Options:
    """The options every driver shares."""

    role: str
    timeout: float
    repeat: int
    local_dir: str | None
    restart: bool
    label: str | None
    output: str | None
    name: str | None
    tag: str | None


def default_stem(tool: str, deployment: str) -> str:
    """``fio-demo-vm-bench`` for ``fio`` on ``demo::vm::bench``: the same for the same
    command, so that re-running it resumes."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"{tool}-{deployment}")


def default_label(composition: str, root: Path) -> str:
    """The composition's name, or the project folder's for a project's only composition
    (which NixOS-Compose and nxc call ``composition``)."""
    return root.resolve().name if composition == "composition" else composition


def _sweep(tool: str, spec: SweepSpec, settings: Any, options: _Options) -> None:
    """Open the deployment, run (or resume) the sweep, write results and the report, sum up."""
    from nxc.api import Environment
    from nxc.bench.report import write_report
    from nxc.bench.results import human_rate, write_results
    from nxc.bench.runner import SweepOptions, run_sweep
    from nxc.cli.app import settings as app_settings
    from nxc.project import find_project
    from nxc.selection import choose_deployment

    project = find_project(app_settings.envdir)
    store = project.deployments
    env = Environment(choose_deployment(store, options.name, options.tag), store)
    folder = project.ensure_dir(project.artifact_dir) / "bench"
    stem = options.output or default_stem(tool, env.name)
    state_dir = folder / f"{stem}.sweep"
    sweep_options = SweepOptions(
        repeat=options.repeat,
        local_directory=options.local_dir,
        state_dir=state_dir,
        restart=options.restart,
        label=options.label or default_label(env.deployment.composition, project.root),
        timeout=options.timeout,
    )

    def progress(key: RunKey, point: SweepPoint, hosts: HostNumbers) -> None:
        where = "local disk" if key.target == "local" else "file system"
        bandwidth = human_rate(sum(numbers["bandwidth"] for numbers in hosts.values()))
        typer.echo(f"run {key.repeat + 1}/{options.repeat} {point.label} ({where}): "
                   f"{bandwidth}", err=True)  # fmt: skip

    try:
        with env:
            run = run_sweep(env, options.role, spec, settings, tool, sweep_options, progress)
    except KeyboardInterrupt as interrupt:
        if state_dir.is_dir():
            interrupt.add_note(f"finished runs are kept in {state_dir}; run the same command "
                               "again to resume")  # fmt: skip
        raise
    json_path, csv_path = write_results(run, folder, stem)
    report = write_report(run, folder, stem)
    _print_summary(run)
    typer.echo(f"results: {json_path} {csv_path}")
    typer.echo(f"report: {report}")


def _print_summary(run: BenchRun) -> None:
    from rich.console import Console
    from rich.table import Table

    from nxc.bench.results import SUMMARY_COLUMNS, summary_rows

    table = Table(title=f"{run.tool} on {run.name} ({run.deployment}, {run.role})")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="left" if column in ("op", "mode") else "right")
    for row in summary_rows(run):
        table.add_row(*row)
    Console(soft_wrap=True).print(table)


def compare(
    results: Annotated[
        list[Path], typer.Argument(help="Result files (.json) of nxc bench, one per file system.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="File stem under artifact/bench.")
    ] = "compare",
) -> None:
    """Put several sweeps (file systems) side by side: a Markdown report with a table and
    plots."""
    from nxc.bench.report import write_comparison
    from nxc.bench.results import load_results
    from nxc.cli.app import settings as app_settings
    from nxc.errors import InputError
    from nxc.project import find_project

    runs = [load_results(path) for path in results]
    names = [run.name for run in runs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(
            f"several results are named {twice[0]}; give each sweep its own --label "
            "(nxc bench fio --label NAME --restart)"
        )
    project = find_project(app_settings.envdir)
    folder = project.ensure_dir(project.artifact_dir) / "bench"
    typer.echo(f"report: {write_comparison(runs, folder, output)}")


def register(app: typer.Typer) -> None:
    """Add ``nxc bench fio|ior|mdtest|compare`` to the application."""
    bench_app.command("fio")(fio)
    bench_app.command("ior")(ior)
    bench_app.command("mdtest")(mdtest)
    bench_app.command("compare")(compare)
    app.add_typer(bench_app, name="bench")
