"""Fan-out benchmark: ``true`` on N namespace hosts, nxc's group run against the alternatives.

Compared, in the same run, on the same hosts (network namespaces running real OpenSSH sshd,
see tests/netns.py), with the same key and pinned known_hosts:

* nxc  — ``SshTransport.run`` (asyncssh, one persistent connection per host);
* execo — ``execo.Remote`` (one ``ssh`` process per host per command);
* ssh  — one OpenSSH process per host per command, all started at once (what NixOS-Compose
  does for each command).

For each, the first call (connections included) and ten repeated calls are timed. Needs root.

    python benchmarks/fanout.py                 # 16 and 64 hosts, 10 repeats
    python benchmarks/fanout.py --hosts 8 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nxc.keys import ensure_client_key, ssh_argv, write_known_hosts
from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHost, NamespaceHosts

TARGET_RATIO = 5.0


@dataclass
class Timing:
    method: str
    hosts: int
    first: float
    repeated: list[float]

    @property
    def repeated_mean(self) -> float:
        return statistics.fmean(self.repeated)


def time_calls(call: Callable[[], None], repeat: int) -> tuple[float, list[float]]:
    """Seconds of the first call, then of each of ``repeat`` more calls."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    repeated = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        repeated.append(time.perf_counter() - started)
    return first, repeated


def bench_nxc(hosts: list[NamespaceHost], key: Path, repeat: int) -> tuple[float, list[float]]:
    transport: SshTransport | None = None

    def call() -> None:
        nonlocal transport
        if transport is None:
            transport = SshTransport(hosts, key)
        transport.run("true").check()

    try:
        return time_calls(call, repeat)
    finally:
        if transport is not None:
            transport.close()


def bench_ssh(
    hosts: list[NamespaceHost], key: Path, known_hosts: Path, repeat: int
) -> tuple[float, list[float]]:
    argvs = [ssh_argv(host, key, known_hosts, "true", batch=True) for host in hosts]

    def call() -> None:
        processes = [subprocess.Popen(argv, stdin=subprocess.DEVNULL) for argv in argvs]
        codes = [process.wait() for process in processes]
        if any(codes):
            raise RuntimeError(f"ssh failed on some hosts: {codes}")

    return time_calls(call, repeat)


def bench_execo(
    hosts: list[NamespaceHost], key: Path, known_hosts: Path, repeat: int
) -> tuple[float, list[float]]:
    import logging

    import execo

    execo.logger.setLevel(logging.ERROR)
    execo_hosts = [execo.Host(host.address, user="root", keyfile=str(key)) for host in hosts]
    # execo's defaults would disable host key checking and add '-tt'; pin the keys instead.
    params = {
        "ssh_options": (
            "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "ConnectTimeout=20",
        ),
    }  # fmt: skip

    def call() -> None:
        remote = execo.Remote("true", execo_hosts, connection_params=params).run()
        if not remote.ok:
            raise RuntimeError("execo Remote failed on some hosts")

    return time_calls(call, repeat)


def bench_size(count: int, repeat: int, workdir: Path) -> list[Timing]:
    key = workdir / "id_ed25519"
    public = ensure_client_key(key, "nxc:bench")
    with NamespaceHosts(count, workdir / f"hosts{count}", public) as network:
        known_hosts = workdir / f"known_hosts{count}"
        write_known_hosts(known_hosts, network.hosts)
        hosts = network.hosts
        runs = {
            "nxc (asyncssh, persistent)": lambda: bench_nxc(hosts, key, repeat),
            "execo Remote": lambda: bench_execo(hosts, key, known_hosts, repeat),
            "one ssh per host": lambda: bench_ssh(hosts, key, known_hosts, repeat),
        }
        timings = []
        for method, bench in runs.items():
            first, repeated = bench()
            timings.append(Timing(method, count, first, repeated))
        return timings


def print_table(timings: list[Timing], repeat: int) -> None:
    header = f"{'hosts':>5}  {'method':<28} {'first call':>11} {f'{repeat} repeated':>13}"
    header += f" {'per call':>9} {'first ratio':>12} {'repeat ratio':>13}"
    print(header)
    print("-" * len(header))
    for count in sorted({t.hosts for t in timings}):
        group = [t for t in timings if t.hosts == count]
        nxc = group[0]
        for t in group:
            print(
                f"{t.hosts:>5}  {t.method:<28} {t.first:>10.3f}s {sum(t.repeated):>12.3f}s "
                f"{t.repeated_mean * 1000:>7.1f}ms {t.first / nxc.first:>11.1f}x "
                f"{t.repeated_mean / nxc.repeated_mean:>12.1f}x"
            )
    print("ratios: time of the method / time of nxc (higher = nxc faster)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    largest = max(t.hosts for t in timings)
    group = [t for t in timings if t.hosts == largest]
    ssh = next(t for t in group if t.method == "one ssh per host")
    ratio = ssh.repeated_mean / group[0].repeated_mean
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"target: repeated calls >= {TARGET_RATIO:g}x faster than one ssh per host at "
        f"{largest} hosts: {ratio:.1f}x, {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="nxc-fanout-") as folder:
        for count in args.hosts:
            timings += bench_size(count, args.repeat, Path(folder))
    print_table(timings, args.repeat)


if __name__ == "__main__":
    main()
