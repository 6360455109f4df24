"""Time from start to all-ready of a kexec deployment (g5k-ramdisk), parallel vs sequential.

Hosts are test-bed VMs (QEMU TCG) on a bridge, booted in their "standard environment" as in
``tests/g5k/`` (needs root). For each node count, the hosts are booted afresh (not timed),
then nxc's ``start_deployment`` runs (push kernel + initrd, kexec, wait for pinned SSH on every
host at once) and is timed until it returns. Then, on freshly booted hosts again, the same
flavour works on one host at a time (``max_concurrency=1``: each host's push and kexec after the
previous one's, as NixOS-Compose pushes one host after the other), then waits for them all.
Both go through a machine file (no OAR).

On this machine the guests are CPU-bound (TCG, 2 cores): N guests booting at once take longer
than one, whoever boots them. So the same run also times the hosts' own concurrent boot
(``bare boot``: QEMU started for every host at once, until each answers SSH), the floor any
deployment of N nodes has here; ``nxc / bare`` is nxc's time over that floor.

    sudo python benchmarks/kexec_deploy.py [--nodes 1 2 4]

Prints a table; the target is 4 nodes within 1.5x the time of 1 node.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nxc.deploy import start_deployment, stop_deployment  # noqa: E402
from nxc.deployment import DeploymentStore  # noqa: E402
from nxc.flavours.base import Stage  # noqa: E402
from nxc.flavours.g5k.hosts import HostSource  # noqa: E402
from nxc.flavours.g5k.options import KexecOptions  # noqa: E402
from nxc.flavours.g5k.ramdisk import KexecFlavour  # noqa: E402
from nxc.manifest import Artefacts, Composition, Manifest, Role  # noqa: E402
from nxc.plan import Plan, PlannedNode  # noqa: E402
from tests.g5k.hostvms import PARAMS, HostLab  # noqa: E402
from tests.testbed.build import build  # noqa: E402

TIMEOUT = 300.0
PREFIX = "10.215.1"
"""Host addresses: not the tests' 10.215.0.0/24, so that both can run at once."""


def manifest(guest) -> Manifest:
    composition = Composition(
        "composition",
        (Role("node", "/nix/store/0000-role-node"),),
        None,
        Artefacts(kernel=str(guest.kernel), initrd=str(guest.initrd), cmdline=PARAMS),
    )
    return Manifest("g5k-ramdisk", "x86_64-linux", (composition,), source="benchmark manifest")


def timed_deploy(
    lab: HostLab, guest, count: int, concurrency: int, work: Path
) -> tuple[float, float, float]:
    """Seconds from start_deployment to its return for ``count`` nodes, hosts freshly booted,
    to the moment the last host got its ``kexec -e`` (pushes and loads done), and of the
    hosts' own concurrent boot before it."""
    booting = time.monotonic()
    lab.reset(lab.hosts[:count])
    bare = time.monotonic() - booting
    machine_file = work / f"nodes-{count}"
    machine_file.write_text("\n".join(lab.hosts[:count]) + "\n")
    store = DeploymentStore(Path(tempfile.mkdtemp(dir=work)) / "deploy")
    nodes = tuple(PlannedNode(f"node{i}", "node") for i in range(1, count + 1))
    flavour = KexecFlavour(
        KexecOptions(
            hosts=HostSource(machine_file=machine_file, check_with_oar=False),
            host_ssh_options=lab.ssh_options(),
            timeout=TIMEOUT,
            max_concurrency=concurrency,
        )
    )
    launched: list[float] = []

    def progress(hostname: str, stage: Stage) -> None:
        if stage is Stage.LAUNCHED:
            launched.append(time.monotonic() - began)

    began = time.monotonic()
    deployment = start_deployment(
        store, manifest(guest), Plan("composition", "g5k-ramdisk", nodes), flavour, progress
    )
    elapsed = time.monotonic() - began
    stop_deployment(store, deployment.name)
    return elapsed, max(launched), bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nxc-kexec-bench-"))
    guest = build("busybox", work / "guest")
    lab = HostLab(work / "hosts", guest.kernel, guest.initrd, max(options.nodes), PREFIX)
    rows = []
    try:
        lab.open()
        for count in options.nodes:
            parallel, pushed, bare = timed_deploy(lab, guest, count, count, work)
            sequential, _, _ = timed_deploy(lab, guest, count, 1, work)
            rows.append((count, parallel, pushed, bare, sequential))
            print(f"  {count} node(s): nxc {parallel:.1f} s (all kexec -e at {pushed:.1f} s), "
                  f"bare boot {bare:.1f} s, sequential {sequential:.1f} s",
                  file=sys.stderr)  # fmt: skip
    finally:
        lab.close()
    base = rows[0][1]
    base_over_bare = rows[0][1] / rows[0][3]
    print(
        f"{'nodes':>5}  {'nxc (s)':>8}  {'vs 1 node':>9}  {'all kexec -e (s)':>16}  "
        f"{'bare boot (s)':>13}  {'nxc / bare':>10}  {'vs 1 node':>9}  "
        f"{'sequential (s)':>14}  {'speed-up':>8}"
    )
    for count, parallel, pushed, bare, sequential in rows:
        print(
            f"{count:>5}  {parallel:>8.1f}  {parallel / base:>8.2f}x  {pushed:>16.1f}  "
            f"{bare:>13.1f}  {parallel / bare:>9.2f}x  {parallel / bare / base_over_bare:>8.2f}x  "
            f"{sequential:>14.1f}  {sequential / parallel:>7.2f}x"
        )


if __name__ == "__main__":
    main()
