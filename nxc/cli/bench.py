"""``nxc bench``: fio, IOR or mdtest parameter sweeps on a started deployment's client nodes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from nxc.cli.run import DeploymentNameOption, DeploymentTagOption

if TYPE_CHECKING:
    from nxc.bench.results import BenchResult, BenchRun
    from nxc.bench.sweep import SweepPoint

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
    typer.Option("--output", "-o", help="File stem under artifact/bench (default: TOOL-TIME)."),
]


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
    output: OutputOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
) -> None:
    """Sweep fio over block sizes x clients x jobs x file layout; print a summary table."""
    from nxc.bench.fio import FioSettings
    from nxc.bench.runner import run_fio_sweep
    from nxc.bench.sweep import SweepSpec, parse_size

    spec = SweepSpec.parse(sizes, jobs, clients, modes, rw)
    settings = FioSettings(
        directory=directory,
        size=parse_size(size, "--size"),
        program=program or "fio",
        runtime=runtime,
        direct=direct,
    )
    _sweep(partial(run_fio_sweep, role=role, spec=spec, settings=settings, timeout=timeout),
           name, tag, output)  # fmt: skip


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
    output: OutputOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
) -> None:
    """Sweep IOR (MPI ranks = --jobs per client) and print a summary table."""
    from nxc.bench.ior import IorSettings
    from nxc.bench.runner import run_ior_sweep
    from nxc.bench.sweep import SweepSpec, parse_size

    spec = SweepSpec.parse(sizes, jobs, clients, modes, rw, ("write", "read"))
    settings = IorSettings(directory=directory, size=parse_size(size, "--size"),
                           program=program or "ior")  # fmt: skip
    _sweep(partial(run_ior_sweep, role=role, spec=spec, settings=settings, timeout=timeout),
           name, tag, output)  # fmt: skip


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
    output: OutputOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
) -> None:
    """Sweep mdtest's metadata phases (MPI ranks = --jobs per client); print a summary."""
    from nxc.bench.mdtest import OPERATIONS, MdtestSettings
    from nxc.bench.runner import run_mdtest_sweep
    from nxc.bench.sweep import SweepSpec

    spec = SweepSpec.parse(sizes, jobs, clients, modes, rw, OPERATIONS)
    settings = MdtestSettings(directory=directory, files=files, program=program or "mdtest")
    _sweep(partial(run_mdtest_sweep, role=role, spec=spec, settings=settings, timeout=timeout),
           name, tag, output)  # fmt: skip


def _sweep(
    execute: Callable[..., BenchRun], name: str | None, tag: str | None, output: str | None
) -> None:
    """Open the deployment, run ``execute(env, progress=...)``, write and sum up the results."""
    from nxc.api import Environment
    from nxc.bench.results import human_rate, write_results
    from nxc.cli.app import settings
    from nxc.project import find_project
    from nxc.selection import choose_deployment

    project = find_project(settings.envdir)
    store = project.deployments
    env = Environment(choose_deployment(store, name, tag), store)

    def progress(point: SweepPoint, result: BenchResult) -> None:
        typer.echo(f"{point.label}: {human_rate(result.total['bandwidth'])}", err=True)

    with env:
        run = execute(env, progress=progress)
    folder = project.ensure_dir(project.artifact_dir) / "bench"
    json_path, csv_path = write_results(run, folder, output)
    _print_summary(run)
    typer.echo(f"results: {json_path} {csv_path}")


def _print_summary(run: BenchRun) -> None:
    from rich.console import Console
    from rich.table import Table

    from nxc.bench.results import summary_rows

    table = Table(title=f"{run.tool} on {run.deployment} ({run.role})")
    for column in ("op", "bs", "clients", "jobs", "mode", "bandwidth", "IOPS"):
        table.add_column(column, justify="left" if column in ("op", "mode") else "right")
    for row in summary_rows(run):
        table.add_row(*row)
    Console(soft_wrap=True).print(table)


def register(app: typer.Typer) -> None:
    """Add ``nxc bench fio``, ``nxc bench ior`` and ``nxc bench mdtest`` to the application."""
    bench_app.command("fio")(fio)
    bench_app.command("ior")(ior)
    bench_app.command("mdtest")(mdtest)
    app.add_typer(bench_app, name="bench")
