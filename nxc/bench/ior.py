"""IOR command lines for a sweep point, and IOR's "Summary of all tests" table parsed.

IOR is an MPI program: each client runs ``jobs`` ranks through ``launcher`` (``mpirun``) when
``jobs`` > 1, alone otherwise. ``fpp`` adds ``-F`` (a file per rank); ``shared`` uses one file.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from nxc.bench.sweep import SweepPoint
from nxc.errors import TransportError

MIB = 1024 * 1024
FILE_NAME = "nxc-ior.dat"


@dataclass(frozen=True)
class IorSettings:
    """What stays fixed during an IOR sweep (``{host}`` in ``directory`` is the hostname)."""

    directory: str
    size: int = 16 * MIB
    program: str = "ior"
    launcher: tuple[str, ...] = ("mpirun", "--allow-run-as-root", "-np")
    extra_args: tuple[str, ...] = field(default_factory=tuple)


def ior_command(settings: IorSettings, point: SweepPoint, hostname: str) -> str:
    """The shell command a client runs for ``point``: block size = ``size``, transfer size =
    the point's block size, ``-w`` or ``-r`` (reads keep the file: ``-k``)."""
    directory = settings.directory.replace("{host}", hostname)
    flag = "-w" if point.operation.endswith("write") else "-r"
    argv = [
        settings.program,
        "-a", "POSIX",
        flag, "-k",
        "-t", str(point.block_size),
        "-b", str(settings.size),
        "-o", f"{directory}/{FILE_NAME}",
    ]  # fmt: skip
    if point.mode == "fpp":
        argv.append("-F")
    if point.operation.startswith("rand"):
        argv.append("-z")
    argv += list(settings.extra_args)
    if point.jobs > 1:
        argv = [*settings.launcher, str(point.jobs), *argv]
    return f"mkdir -p {shlex.quote(directory)} && {shlex.join(argv)}"


def parse_ior_output(text: str, operation: str, where: str) -> dict[str, float]:
    """The row of ``operation`` (``write``/``read``) in IOR's summary: mean bandwidth (bytes/s),
    mean operations/s and mean time; ``bytes`` = bandwidth x time."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("Summary of all tests"))
    except StopIteration:
        raise TransportError(f"{where}: no 'Summary of all tests' in IOR's output") from None
    header = lines[start + 1].split()
    wanted = "write" if operation.endswith("write") else "read"
    for line in lines[start + 2 :]:
        words = line.split()
        if not words:
            break
        if words[0] != wanted:
            continue
        row = dict(zip(header, words, strict=False))
        try:
            bandwidth = float(row["Mean(MiB)"]) * MIB
            seconds = float(row["Mean(s)"])
            iops = float(row.get("Mean(OPs)", 0.0))
        except (KeyError, ValueError) as error:
            raise TransportError(
                f"{where}: unexpected IOR summary row {line!r} ({error})"
            ) from None
        return {
            "bandwidth": bandwidth,
            "iops": iops,
            "bytes": bandwidth * seconds,
            "runtime": seconds,
            "latency_mean": 1 / iops if iops else 0.0,
        }
    raise TransportError(f"{where}: IOR's summary has no {wanted} row")
