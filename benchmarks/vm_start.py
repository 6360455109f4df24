"""Time from ``nxc start`` to all-ready, against a bare loop running the same QEMU commands.

For each node count, nxc starts the test-bed guest (``start_deployment`` with the vm flavour,
TCG) and the time until every node answers SSH with its pinned key is taken. Then a bare loop
launches the very same QEMU command lines (same kernel, initrd, fw_cfg files, switch) with
``subprocess.Popen`` and polls SSH exactly as nxc does (same handshake check, same attempt
timeouts), with no record, keys, allocation or lock. The two
alternate, ``--repeat`` times per count, and the medians are printed with their ratio.

    python benchmarks/vm_start.py [--nodes 1 2 4 8] [--repeat 1]

Needs qemu-system-x86, vde2 and what the test-bed guest build needs (see tests/testbed/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nxc import manifest as manifest_module  # noqa: E402
from nxc.deploy import start_deployment, stop_deployment  # noqa: E402
from nxc.deployment import Deployment, DeploymentStore  # noqa: E402
from nxc.flavours.common import processes  # noqa: E402
from nxc.flavours.common.sshready import SshAnswer, ssh_answer  # noqa: E402
from nxc.flavours.vm import vde  # noqa: E402
from nxc.flavours.vm.flavour import SSH_ATTEMPT_BOOTING, SSH_ATTEMPT_READY, VmFlavour  # noqa: E402
from nxc.flavours.vm.options import VmOptions  # noqa: E402
from nxc.plan import plan_nodes  # noqa: E402
from nxc.roles import parse_role_options  # noqa: E402
from tests.testbed.build import KERNEL_PARAMS, build  # noqa: E402
from tests.vm.conftest import write_manifest  # noqa: E402

MEMORY = "192M"


def time_nxc(store: DeploymentStore, manifest_path: Path, count: int) -> tuple[float, Deployment]:
    """Seconds from start_deployment to its return (all nodes ready); the deployment runs on."""
    manifest = manifest_module.load(manifest_path)
    plan = plan_nodes(manifest, None, parse_role_options([f"node={count}"]))
    began = time.monotonic()
    deployment = start_deployment(
        store, manifest, plan, VmFlavour(VmOptions(accel="tcg", memory=MEMORY))
    )
    return time.monotonic() - began, deployment


async def _poll_ssh(targets: list[tuple[int, str, Path, bytes]], timeout: float) -> None:
    """Poll each node as nxc does: short handshakes until the console shows the readiness
    line, patient ones afterwards (a loaded guest may take seconds to answer)."""

    async def one(port: int, key: str, console: Path, ready_line: bytes) -> None:
        deadline = time.monotonic() + timeout
        while True:
            booted = console.is_file() and ready_line in console.read_bytes()
            attempt = SSH_ATTEMPT_READY if booted else SSH_ATTEMPT_BOOTING
            if await ssh_answer("127.0.0.1", port, key, timeout=attempt) is SshAnswer.PINNED:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"port {port} never answered")
            await asyncio.sleep(0.5)

    await asyncio.gather(*(one(*target) for target in targets))


def prepare_bare(
    deployment: Deployment, work: Path
) -> tuple[Path, list[list[str]], list[tuple[int, str, Path, bytes]]]:
    """The bare loop's run folder, QEMU command lines and (port, pinned key) targets.

    The deployment's fw_cfg files are copied aside (nxc's stop removes them) and the command
    lines rewritten to point at the copies and at a fresh switch.
    """
    resources = deployment.resources
    old_run, old_secrets = resources["run_dir"], resources["secret_dir"]
    run_dir = Path(tempfile.mkdtemp(prefix="nxc-bare-"))
    secrets = work / "bare-secrets"
    shutil.rmtree(secrets, ignore_errors=True)
    shutil.copytree(old_secrets, secrets)
    commands = [
        [
            arg.replace(old_run, str(run_dir)).replace(old_secrets, str(secrets))
            for arg in node.extra["argv"]
        ]
        for node in deployment.nodes
    ]
    targets = [
        (
            node.ssh_port,
            node.host_key or "",
            Path(node.extra["console_log"]),
            f"nxc-ready {node.hostname}".encode(),
        )
        for node in deployment.nodes
    ]
    return run_dir, commands, targets


def run_bare(
    run_dir: Path, commands: list[list[str]], targets: list[tuple[int, str, Path, bytes]]
) -> float:
    """Launch a switch and the QEMUs, wait for SSH on every node, kill everything."""
    launched: list[subprocess.Popen[bytes]] = []
    switch_pid = 0
    began = time.monotonic()
    try:
        switch_pid = vde.start_switch(
            shutil.which("vde_switch") or "vde_switch",
            run_dir / "switch",
            run_dir / "switch.pid",
            len(commands),
        )
        for argv in commands:
            launched.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        asyncio.run(_poll_ssh(targets, timeout=300))
        return time.monotonic() - began
    finally:
        for process in launched:
            process.send_signal(signal.SIGKILL)
            process.wait()
        if switch_pid:
            processes.terminate([switch_pid], str(run_dir), grace=1.0)
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="nxc-vm-bench-") as folder:
        work = Path(folder)
        guest = build("busybox", work / "guest")
        manifest_path = write_manifest(
            work / "manifest.json", guest.kernel, guest.initrd, KERNEL_PARAMS
        )
        store = DeploymentStore(work / "deploy")
        rows = []
        for count in args.nodes:
            nxc_times, bare_times = [], []
            for _ in range(args.repeat):
                seconds, deployment = time_nxc(store, manifest_path, count)
                nxc_times.append(seconds)
                bare = prepare_bare(deployment, work)
                stop_deployment(store, deployment.name)
                bare_times.append(run_bare(*bare))
            nxc_s, bare_s = statistics.median(nxc_times), statistics.median(bare_times)
            rows.append((count, bare_s, nxc_s, nxc_s / bare_s))
            print(f"{count} nodes: bare {bare_s:.1f} s, nxc {nxc_s:.1f} s", file=sys.stderr)

    print(f"{'nodes':>5}  {'bare loop (s)':>13}  {'nxc start (s)':>13}  {'nxc/bare':>8}")
    for count, bare_s, nxc_s, ratio in rows:
        print(f"{count:>5}  {bare_s:>13.1f}  {nxc_s:>13.1f}  {ratio:>8.2f}")
    print(
        json.dumps(
            {
                "rows": [
                    dict(zip(("nodes", "bare_s", "nxc_s", "ratio"), r, strict=True)) for r in rows
                ]
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
