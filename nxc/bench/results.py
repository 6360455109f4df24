"""Benchmark results: one :class:`BenchResult` per sweep point (its repeated runs on the file
system and on the nodes' local disk), written as JSON and CSV and read back."""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nxc.atomic import write_atomic
from nxc.bench.sweep import SweepPoint, format_size
from nxc.errors import InputError

METRICS = ("bandwidth", "iops", "bytes", "runtime", "latency_mean")
"""Per-host numbers: bytes/s, operations/s, bytes moved, seconds, seconds per operation."""

SPREAD_METRICS = ("bandwidth", "iops")
"""The metrics whose spread over repeats (stdev, min, max) results and reports carry."""

FORMAT = 2
"""Version of the JSON layout :func:`write_results` writes and :func:`load_results` reads."""

HostNumbers = dict[str, dict[str, float]]
"""One run of a point: each client's numbers."""


def run_total(hosts: HostNumbers) -> dict[str, float]:
    """Bandwidth, IOPS and bytes summed over clients; the longest runtime; mean latency."""
    values = list(hosts.values())
    if not values:
        return dict.fromkeys(METRICS, 0.0)
    return {
        "bandwidth": sum(v["bandwidth"] for v in values),
        "iops": sum(v["iops"] for v in values),
        "bytes": sum(v["bytes"] for v in values),
        "runtime": max(v["runtime"] for v in values),
        "latency_mean": sum(v["latency_mean"] for v in values) / len(values),
    }


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation (0 for one run), minimum and maximum of a metric."""

    mean: float
    stdev: float
    min: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        """The spread of ``values`` (at least one)."""
        stdev = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), stdev, min(values), max(values))


@dataclass(frozen=True)
class BenchResult:
    """One sweep point: each repeat's per-client numbers on the file system (``runs``) and on
    the clients' local disk (``local_runs``, empty when no baseline was measured)."""

    point: SweepPoint
    runs: tuple[HostNumbers, ...]
    local_runs: tuple[HostNumbers, ...] = ()

    @property
    def hosts(self) -> list[str]:
        """The clients the point ran on."""
        return list(self.runs[0]) if self.runs else []

    @property
    def total(self) -> dict[str, float]:
        """Each metric's mean over the repeats of the per-run totals (:func:`run_total`)."""
        return _mean_total(self.runs)

    @property
    def local_total(self) -> dict[str, float] | None:
        """The same on the local disk, ``None`` without a baseline."""
        return _mean_total(self.local_runs) if self.local_runs else None

    def spread(self, metric: str, local: bool = False) -> Spread:
        """The spread of ``metric``'s per-run totals (on the local disk if ``local``)."""
        runs = self.local_runs if local else self.runs
        return Spread.of([run_total(hosts)[metric] for hosts in runs])

    def fraction_of_local(self, metric: str) -> float | None:
        """Mean ``metric`` on the file system over its mean on the local disk (``None``
        without a baseline or when the local figure is 0)."""
        local = self.local_total
        if not local or not local[metric]:
            return None
        return self.total[metric] / local[metric]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the point's fields, the hosts, every run and the summaries."""
        document: dict[str, Any] = {
            **asdict(self.point),
            "hosts": self.hosts,
            "repeats": len(self.runs),
            "runs": [{"hosts": hosts, "total": run_total(hosts)} for hosts in self.runs],
            "total": self.total,
            "spread": {m: asdict(self.spread(m)) for m in SPREAD_METRICS},
            "local": None,
            "fraction_of_local": None,
        }
        if self.local_runs:
            document["local"] = {
                "runs": [{"hosts": h, "total": run_total(h)} for h in self.local_runs],
                "total": self.local_total,
                "spread": {m: asdict(self.spread(m, local=True)) for m in SPREAD_METRICS},
            }
            document["fraction_of_local"] = {m: self.fraction_of_local(m) for m in SPREAD_METRICS}
        return document

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> BenchResult:
        """Read back :meth:`as_dict`'s form."""
        point = SweepPoint(
            int(document["block_size"]), int(document["clients"]), int(document["jobs"]),
            str(document["mode"]), str(document["operation"]),
        )  # fmt: skip
        local = document.get("local") or {"runs": []}
        return cls(
            point,
            tuple(run["hosts"] for run in document["runs"]),
            tuple(run["hosts"] for run in local["runs"]),
        )


def _mean_total(runs: tuple[HostNumbers, ...]) -> dict[str, float]:
    totals = [run_total(hosts) for hosts in runs]
    if not totals:
        return dict.fromkeys(METRICS, 0.0)
    return {metric: statistics.fmean(t[metric] for t in totals) for metric in METRICS}


@dataclass
class BenchRun:
    """A whole sweep: what ran, where, on which file system (``label``), and its results."""

    tool: str
    deployment: str
    role: str
    settings: dict[str, Any]
    results: list[BenchResult] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    label: str = ""
    repeat: int = 1
    local_directory: str | None = None

    @property
    def name(self) -> str:
        """The label, or the deployment's name when there is none."""
        return self.label or self.deployment

    def as_dict(self) -> dict[str, Any]:
        """The JSON document written by :func:`write_results`."""
        return {
            "format": FORMAT,
            "tool": self.tool,
            "label": self.label,
            "deployment": self.deployment,
            "role": self.role,
            "started_at": self.started_at,
            "repeat": self.repeat,
            "local_directory": self.local_directory,
            "settings": self.settings,
            "results": [result.as_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> BenchRun:
        """Read back :meth:`as_dict`'s form."""
        return cls(
            tool=document["tool"],
            deployment=document["deployment"],
            role=document["role"],
            settings=document["settings"],
            results=[BenchResult.from_dict(r) for r in document["results"]],
            started_at=float(document["started_at"]),
            label=document.get("label", ""),
            repeat=int(document.get("repeat", 1)),
            local_directory=document.get("local_directory"),
        )


def load_results(path: Path) -> BenchRun:
    """The sweep in the JSON file ``path`` (written by :func:`write_results`)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such result file; give a .json from artifact/bench") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a result file of nxc bench ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(
            f"{path}: not a result file of this nxc bench (format {FORMAT}); re-run the sweep"
        )
    try:
        return BenchRun.from_dict(document)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise InputError(f"{path}: malformed result file ({error!r})") from None


CSV_FIELDS = (
    "operation", "block_size", "clients", "jobs", "mode", "repeats", *METRICS,
    "bandwidth_stdev", "bandwidth_min", "bandwidth_max", "iops_stdev", "iops_min", "iops_max",
    "local_bandwidth", "local_iops", "bandwidth_fraction", "iops_fraction", "hosts",
)  # fmt: skip


def to_csv(run: BenchRun) -> str:
    """One row per sweep point: mean totals, spreads, the local baseline and the fractions of
    it (empty without a baseline); ``hosts`` lists the clients used."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for result in run.results:
        row: dict[str, Any] = {
            **{key: getattr(result.point, key) for key in CSV_FIELDS[:5]},
            "repeats": len(result.runs),
            **result.total,
            "hosts": " ".join(result.hosts),
        }
        for metric in SPREAD_METRICS:
            spread = result.spread(metric)
            row.update({f"{metric}_stdev": spread.stdev, f"{metric}_min": spread.min,
                        f"{metric}_max": spread.max})  # fmt: skip
            local = result.local_total
            row[f"local_{metric}"] = local[metric] if local else ""
            fraction = result.fraction_of_local(metric)
            row[f"{metric}_fraction"] = "" if fraction is None else fraction
        writer.writerow(row)
    return buffer.getvalue()


def write_results(run: BenchRun, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.csv`` atomically under ``folder`` (created).
    Returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = folder / f"{stem}.json", folder / f"{stem}.csv"
    write_atomic(json_path, json.dumps(run.as_dict(), indent=2) + "\n")
    write_atomic(csv_path, to_csv(run))
    return json_path, csv_path


def human_rate(bytes_per_second: float) -> str:
    """``123.4 MiB/s``."""
    value = bytes_per_second
    for unit in ("B/s", "KiB/s", "MiB/s", "GiB/s"):
        if value < 1024 or unit == "GiB/s":
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB/s"


def percent(fraction: float | None) -> str:
    """``42%``, or ``-`` for no figure."""
    return "-" if fraction is None else f"{100 * fraction:.0f}%"


def summary_rows(run: BenchRun) -> list[list[str]]:
    """Rows of the summary table: operation, block size, clients, jobs, mode, bandwidth
    (mean ± stdev), its min-max, IOPS (mean ± stdev), and the bandwidth as a fraction of the
    local disk's."""
    rows = []
    for r in run.results:
        bandwidth, iops = r.spread("bandwidth"), r.spread("iops")
        rows.append(
            [
                r.point.operation,
                format_size(r.point.block_size),
                str(r.point.clients),
                str(r.point.jobs),
                r.point.mode,
                f"{human_rate(bandwidth.mean)} ± {human_rate(bandwidth.stdev)}",
                f"{human_rate(bandwidth.min)} - {human_rate(bandwidth.max)}",
                f"{iops.mean:.0f} ± {iops.stdev:.0f}",
                percent(r.fraction_of_local("bandwidth")),
            ]
        )
    return rows


SUMMARY_COLUMNS = ("op", "bs", "clients", "jobs", "mode", "bandwidth", "min - max", "IOPS",
                   "of local")  # fmt: skip
"""Headers of :func:`summary_rows`' columns."""
