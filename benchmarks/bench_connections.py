"""``nxc bench`` sweeps with one SSH connection per client (now) against one per run (before).

Both ways are measured in the same run on the same namespace hosts running real OpenSSH sshd
(tests/netns.py), through the same recorded deployment and ``nxc.bench.runner.Clients``:

* ``true`` on every client, ``--commands`` times (the cost a sweep pays per point);
* a real fio sweep (Debian's fio, tiny files, no local baseline): ``run_sweep`` end to end,
  tool check and clean-up included.

"before" is ``reuse_connections=False``: each run starts its own ``ssh`` (execo's default);
"now" opens one OpenSSH master per client and sends every run through it. Needs root.

    python benchmarks/bench_connections.py                 # 2 and 8 clients
    python benchmarks/bench_connections.py --clients 4 --commands 20
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nxc.api import Environment
from nxc.bench.fio import FioSettings
from nxc.bench.runner import Clients, SweepOptions, run_sweep
from nxc.bench.sweep import SweepSpec
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState
from nxc.keys import ensure_client_key
from tests.netns import NamespaceHosts


def seconds(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def commands(env: Environment, reuse: bool, count: int) -> None:
    """``true`` on every client ``count`` times, connections opened and closed included."""
    with Clients(env, "client", reuse_connections=reuse) as clients:
        for _ in range(count):
            for host, process in clients.run(["true"] * len(clients.nodes), 60, "true"):
                if not process.finished_ok or process.exit_code:
                    raise RuntimeError(f"true failed on {host}: {process.stderr}")


def sweep(env: Environment, reuse: bool, folder: Path) -> int:
    """A small real fio sweep; returns its number of points."""
    spec = SweepSpec.parse("4k,64k", jobs="1,2", modes="fpp,shared")
    settings = FioSettings(directory=f"{folder}/{{host}}", size=64 * 1024)
    options = SweepOptions(reuse_connections=reuse)
    return len(run_sweep(env, "client", spec, settings, "fio", options).results)


def measure(count: int, command_count: int, workdir: Path) -> list[tuple[int, str, float, float]]:
    """(clients, what, seconds before, seconds now) on ``count`` fresh namespace hosts."""
    store = DeploymentStore(workdir / f"project{count}" / "deploy")
    deployment = Deployment("bench", "vm", state=DeploymentState.running)
    public = ensure_client_key(store.client_key_path(deployment.name), "nxc:bench")
    with NamespaceHosts(count, workdir / f"hosts{count}", public) as network:
        deployment.nodes = [
            Node(host.hostname, "client", host.address, host.ssh_host, host_key=host.host_key,
                 state=NodeState.ready)
            for host in network.hosts
        ]  # fmt: skip
        store.save(deployment)
        env = Environment(deployment, store)
        rows = []
        # before, then now, then before again: the mean of the two "before" evens out drift
        before = [seconds(lambda: commands(env, False, command_count))]
        now = seconds(lambda: commands(env, True, command_count))
        before.append(seconds(lambda: commands(env, False, command_count)))
        rows.append((count, f"{command_count} x true", sum(before) / 2, now))
        points = 0

        def one_sweep(reuse: bool) -> None:
            nonlocal points
            points = sweep(env, reuse, workdir / "data")

        before = [seconds(lambda: one_sweep(False))]
        now = seconds(lambda: one_sweep(True))
        before.append(seconds(lambda: one_sweep(False)))
        rows.append((count, f"fio sweep, {points} points", sum(before) / 2, now))
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--commands", type=int, default=10)
    args = parser.parse_args()
    import execo

    execo.logger.setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nxc-bench-conn-") as folder:
        for count in args.clients:
            rows += measure(count, args.commands, Path(folder))
    header = f"{'clients':>7}  {'what':<24} {'before':>9} {'now':>9} {'before/now':>11}"
    print(header)
    print("-" * len(header))
    for count, what, before, now in rows:
        print(f"{count:>7}  {what:<24} {before:>8.2f}s {now:>8.2f}s {before / now:>10.2f}x")
    print("before: one ssh connection per client per run; now: one per client per sweep")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
