"""Benchmark results: one :class:`BenchResult` per sweep point, written as JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nxc.atomic import write_atomic
from nxc.bench.sweep import SweepPoint, format_size

METRICS = ("bandwidth", "iops", "bytes", "runtime", "latency_mean")
"""Per-host numbers: bytes/s, operations/s, bytes moved, seconds, seconds per operation."""


@dataclass(frozen=True)
class BenchResult:
    """The outcome of one sweep point: each client's numbers and their total."""

    point: SweepPoint
    hosts: dict[str, dict[str, float]]

    @property
    def total(self) -> dict[str, float]:
        """Bandwidth, IOPS and bytes summed over clients; the longest runtime; mean latency."""
        values = list(self.hosts.values())
        if not values:
            return dict.fromkeys(METRICS, 0.0)
        return {
            "bandwidth": sum(v["bandwidth"] for v in values),
            "iops": sum(v["iops"] for v in values),
            "bytes": sum(v["bytes"] for v in values),
            "runtime": max(v["runtime"] for v in values),
            "latency_mean": sum(v["latency_mean"] for v in values) / len(values),
        }

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: the point's fields, ``hosts`` and ``total``."""
        return {**asdict(self.point), "hosts": self.hosts, "total": self.total}


@dataclass
class BenchRun:
    """A whole sweep: what ran, where, and its results."""

    tool: str
    deployment: str
    role: str
    settings: dict[str, Any]
    results: list[BenchResult] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        """The JSON document written by :func:`write_results`."""
        return {
            "tool": self.tool,
            "deployment": self.deployment,
            "role": self.role,
            "started_at": self.started_at,
            "settings": self.settings,
            "results": [result.as_dict() for result in self.results],
        }


CSV_FIELDS = ("operation", "block_size", "clients", "jobs", "mode", *METRICS, "hosts")


def to_csv(run: BenchRun) -> str:
    """One row per sweep point with the totals; ``hosts`` lists the clients used."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for result in run.results:
        writer.writerow(
            {
                **{key: getattr(result.point, key) for key in CSV_FIELDS[:5]},
                **result.total,
                "hosts": " ".join(result.hosts),
            }
        )
    return buffer.getvalue()


def write_results(run: BenchRun, folder: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.csv`` atomically under ``folder`` (created);
    ``stem`` defaults to ``<tool>-<UTC time>``. Returns both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(run.started_at))
    stem = stem or f"{run.tool}-{stamp}"
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


def summary_rows(run: BenchRun) -> list[list[str]]:
    """Rows of the summary table: operation, block size, clients, jobs, mode, bandwidth, IOPS."""
    return [
        [
            r.point.operation,
            format_size(r.point.block_size),
            str(r.point.clients),
            str(r.point.jobs),
            r.point.mode,
            human_rate(r.total["bandwidth"]),
            f"{r.total['iops']:.0f}",
        ]
        for r in run.results
    ]
