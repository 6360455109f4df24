"""mdtest command lines (one phase per sweep operation) and its "SUMMARY rate" table parsed.

Operations are mdtest's phases, run one at a time on the same tree so later phases find the
files: ``create`` (``-C``), ``stat`` (``-T``), ``read`` (``-E``), ``remove`` (``-r``). The
sweep's block size is the bytes written to (``-w``) and read from (``-e``) each file; ``fpp``
gives each rank its own directory (``-u``), ``shared`` puts every rank's files in one.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from nxc.bench.sweep import SweepPoint
from nxc.errors import TransportError

OPERATIONS = ("create", "stat", "read", "remove")
_PHASE_FLAGS = {"create": "-C", "stat": "-T", "read": "-E", "remove": "-r"}
_SUMMARY_ROWS = {
    "create": "File creation",
    "stat": "File stat",
    "read": "File read",
    "remove": "File removal",
}
TREE_NAME = "nxc-mdtest"


@dataclass(frozen=True)
class MdtestSettings:
    """What stays fixed during an mdtest sweep (``{host}`` in ``directory`` is the hostname)."""

    directory: str
    files: int = 1000
    program: str = "mdtest"
    launcher: tuple[str, ...] = ("mpirun", "--allow-run-as-root", "-np")
    extra_args: tuple[str, ...] = field(default_factory=tuple)


def mdtest_command(settings: MdtestSettings, point: SweepPoint, hostname: str) -> str:
    """The shell command a client runs for one phase of ``point``."""
    directory = settings.directory.replace("{host}", hostname)
    argv = [
        settings.program,
        "-F",
        "-n", str(settings.files),
        "-w", str(point.block_size),
        "-e", str(point.block_size),
        "-d", f"{directory}/{TREE_NAME}",
        _PHASE_FLAGS[point.operation],
    ]  # fmt: skip
    if point.mode == "fpp":
        argv.append("-u")
    argv += list(settings.extra_args)
    if point.jobs > 1:
        argv = [*settings.launcher, str(point.jobs), *argv]
    return f"mkdir -p {shlex.quote(directory)} && {shlex.join(argv)}"


def parse_mdtest_output(text: str, operation: str, files: int, where: str) -> dict[str, float]:
    """The mean rate (operations/s) of ``operation`` in mdtest's first summary table
    (``SUMMARY rate:`` in IOR's mdtest, ``SUMMARY:`` in older ones); ``runtime`` is the time
    ``files`` operations take at that rate, ``latency_mean`` one operation's."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("SUMMARY"))
    except StopIteration:
        raise TransportError(f"{where}: no SUMMARY table in mdtest's output") from None
    wanted = _SUMMARY_ROWS[operation]
    for line in lines[start + 1 :]:
        if line.startswith("SUMMARY"):
            break
        name, colon, numbers = line.partition(":")
        if not colon or name.strip() != wanted:
            continue
        try:
            _maximum, _minimum, mean, *_ = (float(word) for word in numbers.split())
        except ValueError:
            raise TransportError(f"{where}: unexpected mdtest summary row {line!r}") from None
        return {
            "bandwidth": 0.0,
            "iops": mean,
            "bytes": 0.0,
            "runtime": files / mean if mean else 0.0,
            "latency_mean": 1 / mean if mean else 0.0,
        }
    raise TransportError(f"{where}: mdtest's summary has no '{wanted}' row")
