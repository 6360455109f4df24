"""PNG plots of sweeps (matplotlib, Agg backend: no display needed).

A figure shows one metric (bandwidth or IOPS) against one sweep dimension (clients, block size,
processes per client); the other two dimensions are held at their largest swept value (named in
the title). Points are means over repeats with the standard deviation as error bars; a dashed
line of the same colour is the clients' local disk for the same points.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nxc.bench.results import BenchResult, BenchRun
from nxc.bench.sweep import format_size

DIMENSIONS = {"clients": "clients", "block_size": "block size", "jobs": "processes per client"}
"""Sweep dimensions plotted, with their axis labels."""

METRIC_AXES = {"bandwidth": ("bandwidth (MiB/s)", 1024 * 1024), "iops": ("IOPS", 1)}
"""Metrics plotted: axis label and the divisor from the stored unit."""


@dataclass(frozen=True)
class Figure:
    """A PNG written: what it shows and its path."""

    title: str
    path: Path


def _value(result: BenchResult, dimension: str) -> int:
    return int(getattr(result.point, dimension))


def swept_dimensions(runs: Iterable[BenchRun]) -> list[str]:
    """The dimensions with more than one value in any of ``runs``."""
    runs = list(runs)
    return [
        dimension
        for dimension in DIMENSIONS
        if any(len({_value(r, dimension) for r in run.results}) > 1 for run in runs)
    ]


def _fixed(runs: list[BenchRun], dimension: str) -> dict[str, int]:
    """The other dimensions' largest values in ``runs``."""
    return {
        other: max(_value(r, other) for run in runs for r in run.results)
        for other in DIMENSIONS
        if other != dimension
    }


def _fixed_text(fixed: dict[str, int]) -> str:
    return ", ".join(
        f"{DIMENSIONS[k]} {format_size(v) if k == 'block_size' else v}" for k, v in fixed.items()
    )


def _curve(
    run: BenchRun, dimension: str, fixed: dict[str, int], metric: str, operation: str,
    mode: str, local: bool,
) -> tuple[list[int], list[float], list[float]]:  # fmt: skip
    """x values, means and standard deviations of one series, the other dimensions at
    ``fixed`` (empty without such points)."""
    scale = METRIC_AXES[metric][1]
    selected = sorted(
        (
            r
            for r in run.results
            if r.point.operation == operation
            and r.point.mode == mode
            and all(_value(r, k) == v for k, v in fixed.items())
            and (r.local_runs or not local)
        ),
        key=lambda r: _value(r, dimension),
    )
    spreads = [r.spread(metric, local=local) for r in selected]
    return (
        [_value(r, dimension) for r in selected],
        [s.mean / scale for s in spreads],
        [s.stdev / scale for s in spreads],
    )


def _series(run: BenchRun) -> list[tuple[str, str]]:
    """The (operation, mode) pairs of ``run``, in sweep order."""
    return list(dict.fromkeys((r.point.operation, r.point.mode) for r in run.results))


def _axes(figure_size: tuple[float, float], columns: int = 1) -> tuple[Any, list[Any]]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=figure_size, layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    return figure, list(axes)


def _decorate(ax: Any, dimension: str, metric: str, xs: set[int]) -> None:
    ax.set_xlabel(DIMENSIONS[dimension])
    ax.set_ylabel(METRIC_AXES[metric][0])
    ticks = sorted(xs)
    if dimension == "block_size":
        ax.set_xscale("log", base=2)
    ax.set_xticks(ticks)
    ax.set_xticklabels([format_size(x) if dimension == "block_size" else str(x) for x in ticks])
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")


def _plot_series(
    ax: Any, run: BenchRun, dimension: str, fixed: dict[str, int], metric: str,
    series: tuple[str, str], label: str, colour: str,
) -> set[int]:  # fmt: skip
    """One series (operation, mode) on the file system (error bars) and its local baseline
    (dashed)."""
    operation, mode = series
    xs, means, stdevs = _curve(run, dimension, fixed, metric, operation, mode, local=False)
    ax.errorbar(xs, means, yerr=stdevs, marker="o", capsize=3, color=colour, label=label)
    local_xs, local_means, _ = _curve(run, dimension, fixed, metric, operation, mode, True)
    if local_xs:
        ax.plot(local_xs, local_means, linestyle="--", marker=".", color=colour,
                label=f"{label}, local disk")  # fmt: skip
    return set(xs)


def sweep_figures(run: BenchRun, folder: Path, stem: str) -> list[Figure]:
    """For each swept dimension and metric, ``<stem>-<metric>-vs-<dimension>.png`` under
    ``folder``: one series per operation and layout."""
    figures = []
    for dimension in swept_dimensions([run]):
        fixed = _fixed([run], dimension)
        for metric in METRIC_AXES:
            figure, [ax] = _axes((6.4, 4.2))
            xs: set[int] = set()
            for i, series in enumerate(_series(run)):
                xs |= _plot_series(ax, run, dimension, fixed, metric, series,
                                   " ".join(series), f"C{i}")  # fmt: skip
            title = (f"{run.name}: {metric} against {DIMENSIONS[dimension]} "
                     f"({_fixed_text(fixed)})")  # fmt: skip
            ax.set_title(title, fontsize="medium", wrap=True)
            _decorate(ax, dimension, metric, xs)
            path = folder / f"{stem}-{metric}-vs-{dimension}.png"
            figure.savefig(path, dpi=100)
            figures.append(Figure(title, path))
    return figures


def comparison_figures(runs: list[BenchRun], folder: Path, stem: str) -> list[Figure]:
    """For each dimension swept in some run and each metric,
    ``<stem>-<metric>-vs-<dimension>.png``: one panel per operation and layout, one series
    per run (file system); the other dimensions at their largest value over all runs."""
    series = list(dict.fromkeys(s for run in runs for s in _series(run)))
    figures = []
    for dimension in swept_dimensions(runs):
        fixed = _fixed(runs, dimension)
        for metric in METRIC_AXES:
            figure, axes = _axes((4.8 * len(series), 4.2), columns=len(series))
            for ax, one in zip(axes, series, strict=True):
                xs: set[int] = set()
                for i, run in enumerate(runs):
                    xs |= _plot_series(ax, run, dimension, fixed, metric, one, run.name,
                                       f"C{i}")  # fmt: skip
                ax.set_title(" ".join(one), fontsize="medium")
                _decorate(ax, dimension, metric, xs)
            title = f"{metric} against {DIMENSIONS[dimension]} ({_fixed_text(fixed)})"
            figure.suptitle(title)
            path = folder / f"{stem}-{metric}-vs-{dimension}.png"
            figure.savefig(path, dpi=100)
            figures.append(Figure(title, path))
    return figures
