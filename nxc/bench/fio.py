"""fio command lines for a sweep point, and fio's JSON output reduced to a few numbers."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from nxc.bench.sweep import SweepPoint
from nxc.errors import TransportError

FILE_PREFIX = "nxc-fio"


@dataclass(frozen=True)
class FioSettings:
    """What stays fixed during a sweep.

    ``directory`` is where each client writes; ``{host}`` in it becomes the node's hostname
    (e.g. ``/mnt/fs/{host}``, or per-host folders of a local file system).
    """

    directory: str
    size: int = 16 * 1024 * 1024
    program: str = "fio"
    runtime: float | None = None
    direct: bool = False
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def directory_for(self, hostname: str) -> str:
        """The folder ``hostname`` works in."""
        return self.directory.replace("{host}", hostname)


def fio_command(settings: FioSettings, point: SweepPoint, hostname: str, client_index: int) -> str:
    """The shell command a client runs for ``point`` (creates its folder first)."""
    directory = settings.directory_for(hostname)
    argv = [
        settings.program,
        f"--name={FILE_PREFIX}-{hostname}",
        f"--rw={point.operation}",
        f"--bs={point.block_size}",
        f"--size={settings.size}",
        f"--numjobs={point.jobs}",
        "--group_reporting",
        "--output-format=json",
        f"--direct={int(settings.direct)}",
    ]
    if point.mode == "shared":
        first = client_index * point.jobs * settings.size
        argv += [
            f"--filename={directory}/{FILE_PREFIX}-shared",
            f"--offset={first}",
            f"--offset_increment={settings.size}",
        ]
    else:
        argv.append(f"--directory={directory}")
    if settings.runtime is not None:
        argv += [f"--runtime={settings.runtime:g}", "--time_based"]
    argv += list(settings.extra_args)
    return f"mkdir -p {shlex.quote(directory)} && {shlex.join(argv)}"


def cleanup_command(settings: FioSettings, hostname: str) -> str:
    """Stops this sweep's fio on ``hostname`` if one still runs (after an interrupt, the
    killed ``ssh`` leaves it running): SIGTERM, up to 5 s for it to end, then SIGKILL (a
    loaded node's fio may take longer to wind down) and up to 5 s more; then removes the files
    the sweep wrote in its folder."""
    directory = shlex.quote(settings.directory_for(hostname))
    # the bracket keeps the pattern from matching this shell's own command line
    pattern = shlex.quote(f"[-]-name={FILE_PREFIX}-{hostname}( |$)")
    wait = (
        f"n=0; while pgrep -f {pattern} >/dev/null && [ $n -lt 50 ]; "
        "do sleep 0.1; n=$((n + 1)); done"
    )
    return (
        f"pkill -f {pattern}; {wait}; pkill -KILL -f {pattern}; {wait}; "
        f"rm -f {directory}/{FILE_PREFIX}-*"
    )


def parse_fio_json(text: str, where: str) -> dict[str, float]:
    """Totals over fio's jobs: ``bandwidth`` (bytes/s), ``iops``, ``bytes``, ``runtime`` (s),
    ``latency_mean`` (s, weighted by I/Os), summed over the read and write directions.

    fio may print notes before its JSON; they are skipped. ``where`` names the run in errors.
    """
    start = text.find("{")
    try:
        report: dict[str, Any] = json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError as error:
        raise TransportError(
            f"{where}: fio's output is not JSON ({error}); start: {text[:200]!r}"
        ) from None
    jobs = report.get("jobs")
    if not jobs:
        raise TransportError(f"{where}: fio printed no job results; start: {text[:200]!r}")
    totals = {"bandwidth": 0.0, "iops": 0.0, "bytes": 0.0, "runtime": 0.0, "latency_mean": 0.0}
    weighted_latency = 0.0
    ios = 0.0
    for job in jobs:
        if job.get("error"):
            raise TransportError(
                f"{where}: fio job {job.get('jobname')} failed with error {job['error']}"
            )
        for direction in ("read", "write", "trim"):
            stats = job.get(direction) or {}
            if not stats.get("io_bytes"):
                continue
            totals["bandwidth"] += float(stats["bw_bytes"])
            totals["iops"] += float(stats["iops"])
            totals["bytes"] += float(stats["io_bytes"])
            totals["runtime"] = max(totals["runtime"], float(stats["runtime"]) / 1000)
            count = float(stats.get("total_ios", 0))
            weighted_latency += count * float(stats.get("lat_ns", {}).get("mean", 0.0)) / 1e9
            ios += count
    totals["latency_mean"] = weighted_latency / ios if ios else 0.0
    return totals
