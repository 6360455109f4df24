"""Broadcast benchmark: one artefact to N hosts, today's parallel copy against the TakTuk tree.

On namespace hosts running real OpenSSH sshd (tests/netns.py, each with its own /tmp, see
tests/scale/lab.py), in the same run and on the same hosts:

* parallel copy — :func:`nxc.flavours.g5k.kexec.push_artefacts` on every host at once (what the
  kexec flavours do today: one OpenSSH child per host, each sending the whole file);
* TakTuk tree — :func:`nxc.platforms.broadcast.broadcast_files` (``taktuk -d 2``, relays
  through agent forwarding).

Columns: wall time; bytes this machine sent into the hosts' bridge (its transmit counter)
divided by the artefact size; CPU seconds of this process and its children (ssh, taktuk,
ssh-agent); and the ratios of time and bytes against the parallel copy at the same host
count. Every host's copy is emptied before each method, so each one copies for real. Needs
root. The last line is the figure the compass tracks.

    python benchmarks/broadcast.py                        # 8 16 32 64 hosts, 32 MiB
    python benchmarks/broadcast.py --hosts 8 16 --size 8
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nxc.fanout import HostResult, run_bounded
from nxc.flavours.g5k import kexec
from nxc.platforms.broadcast import broadcast_files
from tests.scale.lab import BroadcastLab

PARALLEL = "parallel copy"
TREE = "TakTuk tree"


@dataclass
class Run:
    method: str
    hosts: int
    seconds: float
    sent: float
    """Bytes sent by this machine divided by the artefact size."""
    cpu: float


def cpu_seconds() -> float:
    """User + system CPU of this process and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(lab: BroadcastLab, method: str, count: int, size: int, call: Callable[[], None]) -> Run:
    for host in lab.hosts:
        shutil.rmtree(lab.remote_dir(host), ignore_errors=True)
    sent, cpu, started = lab.sent_bytes(), cpu_seconds(), time.perf_counter()
    call()
    seconds = time.perf_counter() - started
    return Run(method, count, seconds, (lab.sent_bytes() - sent) / size, cpu_seconds() - cpu)


def bench(lab: BroadcastLab, count: int, files: dict[str, Path], size: int) -> list[Run]:
    shell = lab.shell()
    addresses = lab.addresses[:count]

    def parallel() -> None:
        def push(host: str) -> HostResult:
            kexec.push_artefacts(shell, host, files)
            return HostResult(host, exit_status=0)

        run_bounded(addresses, push, count).check()  # every host at once, as today

    def tree() -> None:
        result = broadcast_files(
            shell, addresses, files, relay_options=lab.relay_options, tree_min_hosts=1
        )
        if not result.ok or result.notes:
            raise RuntimeError(result.summary())

    return [measure(lab, PARALLEL, count, size, parallel), measure(lab, TREE, count, size, tree)]


def print_table(runs: list[Run], size_mib: int) -> None:
    header = (
        f"{'hosts':>5}  {'method':<14} {'time':>8} {'sent/size':>10} {'cpu':>8}"
        f" {'time ratio':>11} {'sent ratio':>11}"
    )
    print(f"one {size_mib} MiB artefact to N namespace hosts")
    print(header)
    print("-" * len(header))
    for count in sorted({run.hosts for run in runs}):
        group = [run for run in runs if run.hosts == count]
        base = next(run for run in group if run.method == PARALLEL)
        for run in group:
            print(
                f"{run.hosts:>5}  {run.method:<14} {run.seconds:>7.2f}s {run.sent:>9.2f}x "
                f"{run.cpu:>7.2f}s {run.seconds / base.seconds:>10.2f}x "
                f"{run.sent / base.sent:>10.2f}x"
            )
    print("ratios: the method's time (bytes sent) / the parallel copy's at the same host count")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    trees = sorted((run for run in runs if run.method == TREE), key=lambda run: run.hosts)
    largest, smallest = trees[-1], trees[0]
    print(
        f"scale: {largest.hosts} hosts, frontend sent {largest.sent:.2f}\N{MULTIPLICATION SIGN} the artefact in "
        f"{largest.seconds:.1f} s ({smallest.hosts} hosts: {smallest.seconds:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--size", type=int, default=32, help="artefact size in MiB")
    args = parser.parse_args()
    size = args.size << 20
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="nxc-broadcast-bench-") as folder:
        artefact = Path(folder) / "artefact"
        artefact.write_bytes(os.urandom(size))
        files = {kexec.sha256_of(artefact): artefact}
        with BroadcastLab(max(args.hosts), Path(folder)) as lab:
            for count in sorted(args.hosts):
                runs += bench(lab, count, files, size)
    print_table(runs, args.size)


if __name__ == "__main__":
    main()
