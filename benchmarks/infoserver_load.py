"""The deployment info server under many nodes fetching at once (issue: 1,000-node runs).

Starts the real server (``nxc.infoserver.start_info_server``, a detached process as in a
deployment) with the info of a deployment of ``--nodes`` nodes, then fetches
``/TOKEN/info.json`` from ``C`` concurrent clients (asyncio streams on this machine, each one
HTTP/1.0 GET, as a node's stage 1 does with busybox wget), for C = 1 (the baseline), 100 and
1,000. First, what one node fetches at boot for deployments of ``--sizes`` nodes: the info
(nxc's own builder, as g5k-ramdisk serves it; it grows with the hosts list, each node's entry
a constant number of bytes) and the node's own host key (constant). Printed per row: p50 and
p99 latency, the failed fetches (refused, reset, or unanswered
after 30 s), and p50/p99 as ratios of the baseline's, measured in the same run.

With socketserver's default listen backlog of 5, 10 concurrent fetches already had a p99 of
about 1 s (SYN retransmission) and 100 did not finish in two minutes here; the server now
queues 4,096 connections (``nxc.infoserver.LISTEN_BACKLOG``).

    python benchmarks/infoserver_load.py                 # 1,000 nodes' info
    python benchmarks/infoserver_load.py --nodes 200 --clients 1 50 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.deployment_info import InfoExtras, build_info
from nxc.infoserver import InfoServer, start_info_server, stop_recorded
from nxc.keys import generate_keypair
from nxc.limits import ensure_open_files
from nxc.manifest import Composition, Manifest, Role

ADDRESS = "127.0.0.1"
FETCH_TIMEOUT = 30.0
"""A fetch still unanswered after this long counts as failed (a node's wget would retry)."""


def info_document(nodes: int, folder: Path) -> bytes:
    """The deployment info g5k-ramdisk serves for ``nodes`` nodes (two roles), made by nxc's
    own builder (:func:`nxc.deployment_info.build_info`, the kexec flavours' extras), as the
    server sends it."""
    system = "/nix/store/" + "x" * 32 + "-nixos-system-"
    manifest = Manifest(
        "g5k-ramdisk",
        "x86_64-linux",
        (Composition("bench", (Role("server", system + "server"), Role("node", system + "node"))),),
    )
    members = [
        Node(
            hostname="server" if i == 0 else f"node{i}",
            role="server" if i == 0 else "node",
            address=f"10.{i // 250}.{i % 250}.1",
            ssh_host=f"host-{i}.site.grid5000.fr",
        )
        for i in range(nodes)
    ]
    deployment = Deployment("bench", "g5k-ramdisk", nodes=members)
    store = DeploymentStore(folder / "deploy")
    extras = InfoExtras(with_macs=False, root_key_by_url=True)
    info = build_info(deployment, store, manifest, extras)
    return json.dumps(info, separators=(",", ":")).encode()


def fetch_sizes(counts: list[int], folder: Path) -> None:
    """What one node fetches at boot, by deployment size: the info (every node's entry, the
    hosts list it needs for /etc/hosts) and its own host key; bytes per node in the info."""
    key = len(generate_keypair("bench").private_openssh)
    print(f"{'nodes':>7} {'info KiB':>9} {'B/node':>7} {'own key B':>10} {'fetch KiB':>10}")
    for count in counts:
        size = len(info_document(count, folder))
        print(
            f"{count:>7} {size / 1024:>9.1f} {size / count:>7.0f} {key:>10} "
            f"{(size + key) / 1024:>10.1f}"
        )


async def fetch(server: InfoServer, path: str) -> tuple[float, bool]:
    """One HTTP/1.0 GET; its latency and whether a 200 with a body came back."""
    started = time.perf_counter()

    async def get() -> bytes:
        reader, writer = await asyncio.open_connection(server.address, server.port)
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {server.address}\r\n\r\n".encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        return answer

    try:
        answer = await asyncio.wait_for(get(), FETCH_TIMEOUT)
        ok = answer.startswith(b"HTTP/1.0 200") and answer.rstrip().endswith(b"}")
    except (OSError, TimeoutError):
        ok = False
    return time.perf_counter() - started, ok


async def burst(server: InfoServer, clients: int) -> tuple[list[float], int]:
    """``clients`` fetches started at once; latencies of the good ones, count of failures."""
    path = f"/{server.token}/info.json"
    results = await asyncio.gather(*(fetch(server, path) for _ in range(clients)))
    good = [latency for latency, ok in results if ok]
    return good, len(results) - len(good)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000, help="nodes in the deployment info")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--rounds", type=int, default=3, help="bursts per row")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10, 100, 1000], help="deployment sizes"
    )
    options = parser.parse_args()
    ensure_open_files(max(options.clients))

    with tempfile.TemporaryDirectory(prefix="nxc-bench-info-") as folder:
        os.environ["XDG_STATE_HOME"] = folder  # the deployment's keys, this run's only
        print("what one node fetches at boot (info + its own host key):")
        fetch_sizes(options.sizes, Path(folder))
        document = info_document(options.nodes, Path(folder))
        info_file = Path(folder) / "info.json"
        info_file.write_bytes(document)
        server = start_info_server(info_file, ADDRESS, Path(folder) / "server.log")
        try:
            rows = []
            for clients in options.clients:
                latencies: list[float] = []
                failed = 0
                for _ in range(options.rounds):
                    good, bad = asyncio.run(burst(server, clients))
                    latencies += good
                    failed += bad
                rows.append((clients, latencies, failed))
        finally:
            stop_recorded(server.to_record(), grace=1)

    size = len(document)
    print(f"info server: {options.nodes} nodes' info ({size / 1024:.0f} KiB), "
          f"{options.rounds} burst(s) per row")  # fmt: skip
    base50 = percentile(rows[0][1], 0.5)
    base99 = percentile(rows[0][1], 0.99)
    print(
        f"{'clients':>8} {'p50 ms':>9} {'p99 ms':>9} {'failed':>7} {'p50 ratio':>10} {'p99 ratio':>10}"
    )
    for clients, latencies, failed in rows:
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        print(
            f"{clients:>8} {p50 * 1000:>9.1f} {p99 * 1000:>9.1f} {failed:>7} "
            f"{p50 / base50:>9.1f}x {p99 / base99:>9.1f}x"
        )
    if rows and rows[-1][1]:
        clients, latencies, failed = rows[-1]
        print(
            f"info server: {clients} concurrent fetches, p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, {failed} failed "
            f"(mean {statistics.fmean(latencies) * 1000:.0f} ms)"
        )


if __name__ == "__main__":
    main()
