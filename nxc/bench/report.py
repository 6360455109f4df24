"""Markdown reports: one per sweep (its table and plots) and one comparing several sweeps (file
systems) side by side. Bandwidths are in MiB/s with two decimals, IOPS whole; "of local" is
the mean on the file system over the mean on the clients' local disk for the same point."""

from __future__ import annotations

import time
from pathlib import Path

from nxc.atomic import write_atomic
from nxc.bench.plots import Figure, comparison_figures, sweep_figures
from nxc.bench.results import BenchResult, BenchRun, percent
from nxc.bench.sweep import SweepPoint, format_size

MIB = 1024 * 1024


def mib(value: float) -> str:
    """Bytes/s as ``123.45`` MiB/s."""
    return f"{value / MIB:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    right = ["---:" if i >= 5 else "---" for i in range(len(header))]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(right) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _point_cells(point: SweepPoint) -> list[str]:
    return [point.operation, format_size(point.block_size), str(point.clients),
            str(point.jobs), point.mode]  # fmt: skip


POINT_HEADER = ["op", "bs", "clients", "jobs", "mode"]


def _sweep_row(result: BenchResult) -> list[str]:
    bandwidth, iops = result.spread("bandwidth"), result.spread("iops")
    local = result.local_total
    return [
        *_point_cells(result.point),
        str(len(result.runs)),
        mib(bandwidth.mean), mib(bandwidth.stdev), mib(bandwidth.min), mib(bandwidth.max),
        f"{iops.mean:.0f}", f"{iops.stdev:.0f}",
        mib(local["bandwidth"]) if local else "-",
        percent(result.fraction_of_local("bandwidth")),
        percent(result.fraction_of_local("iops")),
    ]  # fmt: skip


SWEEP_HEADER = [
    *POINT_HEADER, "runs", "MiB/s mean", "stdev", "min", "max", "IOPS mean", "IOPS stdev",
    "local MiB/s", "bandwidth of local", "IOPS of local",
]  # fmt: skip


def _figures_markdown(figures: list[Figure], folder: Path) -> list[str]:
    if not figures:
        return ["Only one value of each dimension was swept: no plot."]
    lines = []
    for figure in figures:
        lines += [f"![{figure.title}]({figure.path.relative_to(folder).as_posix()})", ""]
    return lines


def _when(started_at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started_at))


def write_report(run: BenchRun, folder: Path, stem: str) -> Path:
    """``<stem>.md`` under ``folder`` with the sweep's table and its PNG plots
    (``<stem>-*.png``); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = sweep_figures(run, folder, stem)
    settings = ", ".join(f"{k}={v}" for k, v in run.settings.items() if k != "directory")
    baseline = (
        f"the same points in `{run.local_directory}` on the clients' local disk"
        if run.local_directory
        else "none (run without a local-disk baseline)"
    )
    lines = [
        f"# {run.tool} on {run.name}",
        "",
        f"- deployment: `{run.deployment}`, clients of role `{run.role}`",
        f"- started: {_when(run.started_at)}; {run.repeat} run(s) per point",
        f"- directory: `{run.settings.get('directory')}`; {settings}",
        f"- upper bound: {baseline}",
        "",
        "## Results",
        "",
        "Bandwidth in MiB/s, summed over clients; mean, sample standard deviation, minimum and "
        "maximum over the runs.",
        "",
        *_table(SWEEP_HEADER, [_sweep_row(r) for r in run.results]),
        "",
        "## Plots",
        "",
        *_figures_markdown(figures, folder),
    ]
    path = folder / f"{stem}.md"
    write_atomic(path, "\n".join(lines).rstrip() + "\n")
    return path


def write_comparison(runs: list[BenchRun], folder: Path, stem: str) -> Path:
    """``<stem>.md`` under ``folder``: every point of ``runs`` with each run's (file system's)
    mean bandwidth ± stdev, IOPS and fraction of its local disk side by side, and the plots
    (``<stem>-*.png``); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    figures = comparison_figures(runs, folder, stem)
    points = list(dict.fromkeys(r.point for run in runs for r in run.results))
    by_point = [{r.point: r for r in run.results} for run in runs]
    header = list(POINT_HEADER)
    for run in runs:
        header += [f"{run.name} MiB/s", f"{run.name} IOPS", f"{run.name} of local"]
    rows = []
    for point in points:
        row = _point_cells(point)
        for results in by_point:
            result = results.get(point)
            if result is None:
                row += ["-", "-", "-"]
                continue
            bandwidth = result.spread("bandwidth")
            row += [
                f"{mib(bandwidth.mean)} ± {mib(bandwidth.stdev)}",
                f"{result.total['iops']:.0f}",
                percent(result.fraction_of_local("bandwidth")),
            ]
        rows.append(row)
    sources = [
        f"- **{run.name}**: {run.tool} on `{run.deployment}` ({_when(run.started_at)}), "
        f"{run.repeat} run(s) per point, directory `{run.settings.get('directory')}`, "
        f"local disk `{run.local_directory or 'not measured'}`"
        for run in runs
    ]
    lines = [
        f"# File systems compared: {', '.join(run.name for run in runs)}",
        "",
        *sources,
        "",
        "## Results",
        "",
        "Bandwidth in MiB/s (mean ± sample standard deviation over the runs, summed over "
        'clients); "of local": the mean bandwidth as a fraction of the same point on the '
        "clients' local disk.",
        "",
        *_table(header, rows),
        "",
        "## Plots",
        "",
        *_figures_markdown(figures, folder),
    ]
    path = folder / f"{stem}.md"
    write_atomic(path, "\n".join(lines).rstrip() + "\n")
    return path
