"""Single-command latency: the test driver's ``machine.succeed("true")`` against a fresh ssh.

One namespace host (real OpenSSH sshd, see tests/netns.py) is recorded as a running deployment
of the tests' ``netnstest`` flavour; the driver's objects are the real ones (``open_driver``:
a ``Machine`` over ``DeploymentNodeBackend`` over ``SshTransport``, logging at the CLI's
default level into memory). Measured, in the same run, with the median and p90 of each:

- ``machine.succeed("true")`` through the driver (the claim: its persistent connection);
- ``SshTransport.run_one("true")`` alone (what the driver adds on top of the transport);
- one OpenSSH client process per command (what NixOS-Compose's driver does): the baseline.

The ratio column is the baseline's median over each row's median. Needs root.

    python benchmarks/driver_latency.py              # 50 calls each
    python benchmarks/driver_latency.py --calls 200
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nxc.deployment import Deployment, DeploymentState, DeploymentStore
from nxc.driver.deployment_backend import open_driver
from nxc.driver.logger import DriverLogger
from nxc.keys import ensure_client_key, ssh_argv, write_known_hosts
from tests.driver.nsflavour import FLAVOUR_NAME, NamespaceFlavour, namespace_node
from tests.netns import NamespaceHost, NamespaceHosts

TARGET_RATIO = 10.0
COMPOSITION = "latency"


def latencies(call: Callable[[], object], calls: int) -> list[float]:
    """Seconds taken by each of ``calls`` calls (after one warm-up call)."""
    call()
    measured = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        measured.append(time.perf_counter() - started)
    return measured


def record(store: DeploymentStore, host: NamespaceHost) -> Deployment:
    """Save a running deployment of ``host`` (its key pinned in the deployment's known_hosts)."""
    node = namespace_node(host, "node")
    deployment = Deployment(COMPOSITION, FLAVOUR_NAME, nodes=[node], state=DeploymentState.running)
    write_known_hosts(store.known_hosts_path(deployment.name), [node])
    store.save(deployment)
    return deployment


def measure(work: Path, calls: int) -> dict[str, list[float]]:
    """Latencies of each method on one namespace host, in the order they are printed."""
    store = DeploymentStore(work / "deploy")
    name = f"{COMPOSITION}::{FLAVOUR_NAME}"
    key = store.client_key_path(name)
    public = ensure_client_key(key, f"nxc:{name}")
    with NamespaceHosts(1, work / "hosts", public) as network:
        host = network.hosts[0]
        deployment = record(store, host)
        flavour = NamespaceFlavour()
        logger = DriverLogger(stream=io.StringIO(), color=False)
        with flavour.transport(deployment, store) as transport:
            (machine,) = open_driver(deployment, store, flavour, transport, logger).machines
            driver = latencies(lambda: machine.succeed("true"), calls)
            raw = latencies(lambda: transport.run_one(host.hostname, "true").check(), calls)
        argv = ssh_argv(host, key, store.known_hosts_path(name), "true", batch=True)
        fresh = latencies(lambda: subprocess.run(argv, stdin=subprocess.DEVNULL, check=True), calls)
    return {
        'driver machine.succeed("true")': driver,
        "transport run_one (raw)": raw,
        "fresh ssh per command": fresh,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nxc-latency-") as folder:
        results = measure(Path(folder), args.calls)
    baseline = statistics.median(results["fresh ssh per command"])
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'method':<32} {'median':>9} {'p90':>9} {'vs fresh ssh':>13}  ({args.calls} calls)")
    for name, values in results.items():
        median = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(
            f"{name:<32} {median * 1000:>7.2f}ms {p90 * 1000:>7.2f}ms {baseline / median:>12.1f}x"
        )
    ratio = baseline / statistics.median(results['driver machine.succeed("true")'])
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f'target: machine.succeed("true") median >= {TARGET_RATIO:g}x lower than fresh ssh: '
        f"{ratio:.1f}x, {verdict}"
    )


if __name__ == "__main__":
    main()
