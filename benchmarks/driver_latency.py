"""Single-command latency: nxc's persistent SSH connection against a fresh ssh per command.

This is the transport side of the test driver's ``machine.succeed("true")``: the median time
of ``true`` on one namespace host (real OpenSSH sshd, see tests/netns.py) through
``SshTransport.run_one`` on its persistent connection, against one OpenSSH client process per
command (what NixOS-Compose's driver does). Needs root.

    python benchmarks/driver_latency.py              # 50 calls each
    python benchmarks/driver_latency.py --calls 200
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nxc.keys import ensure_client_key, ssh_argv, write_known_hosts
from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHosts

TARGET_RATIO = 10.0


def latencies(call: Callable[[], None], calls: int) -> list[float]:
    """Seconds taken by each of ``calls`` calls (after one warm-up call)."""
    call()
    measured = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        measured.append(time.perf_counter() - started)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nxc-latency-") as folder:
        work = Path(folder)
        key = work / "id_ed25519"
        public = ensure_client_key(key, "nxc:bench")
        with NamespaceHosts(1, work / "hosts", public) as network:
            host = network.hosts[0]
            known_hosts = work / "known_hosts"
            write_known_hosts(known_hosts, network.hosts)
            argv = ssh_argv(host, key, known_hosts, "true", batch=True)

            def fresh_ssh() -> None:
                subprocess.run(argv, stdin=subprocess.DEVNULL, check=True)

            with SshTransport(network.hosts, key) as transport:
                persistent = latencies(
                    lambda: transport.run_one(host.hostname, "true").check(), args.calls
                )
            fresh = latencies(fresh_ssh, args.calls)
    nxc_median, ssh_median = statistics.median(persistent), statistics.median(fresh)
    ratio = ssh_median / nxc_median
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'method':<30} {'median':>9} {'p90':>9}  ({args.calls} calls of 'true')")
    for name, values in (
        ("nxc persistent connection", persistent),
        ("fresh ssh per command", fresh),
    ):
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:<30} {statistics.median(values) * 1000:>7.1f}ms {p90 * 1000:>7.1f}ms")
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"target: median latency >= {TARGET_RATIO:g}x lower than fresh ssh: {ratio:.1f}x, {verdict}"
    )


if __name__ == "__main__":
    main()
