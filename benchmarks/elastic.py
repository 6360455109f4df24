"""Elastic benchmark (issue 16): what growing a running deployment costs, step after step.

A deployment of the test-bed guest starts with one ``manager`` node, through
:func:`nxc.start` on a project whose one build (composition ``elastic``, roles ``manager``
and ``provider``, both booting the guest) sits under ``build/``. Then, one step every
``--interval`` seconds (step starts, not gaps):

* ``--steps`` steps add one ``provider`` node each (a monitor asking for one more storage
  provider);
* ``--group-steps`` steps add one {manager, provider} group each, two roles in one request.

Three modes, ``--flavour`` and ``--oar``:

* ``vm`` (the default): QEMU under TCG (``--memory`` each) on the VDE switch; every step
  boots new VMs, with the same TCG flavour the deployment started with.
* ``g5k-ramdisk``, the kexec path: test-bed VMs on a bridge stand for Grid'5000 hosts, as in
  ``tests/g5k/`` (needs root). ``1 + steps + 2 * group-steps`` hosts boot in their standard
  environment, all listed in one machine file; the manager takes the first, the others stay
  the deployment's unused hosts, and every step kexecs its nodes into hosts among them. With
  a machine file there is no OAR job, so no platform time.
* ``g5k-ramdisk --oar``, the kexec path through OAR (needs root and the OAR stand-in's
  packages, as ``tests/oar/``): the same host VMs are declared ``deploy=YES`` nodes of a real
  OAR 2.5 server (the stand-in of ``tests/oar/conftest.py``, set up for the run and torn down
  after it). The manager starts on a new ``-t deploy`` job of one host, and every step
  reserves a NEW job for its nodes (one host, or two for a group); the platform column is
  OAR's part of the step, from the submission to the job's start, which the stand-in's
  scheduler sets (it is busy on a loaded machine).

Every step goes through :func:`nxc.resize.add_nodes` (what ``nxc start --add`` and
``Environment.add_nodes`` run; called directly because a group is two roles at once). After
each step the deployment is opened again (:func:`nxc.open_deployment`) and every node's
``/etc/hosts`` is read: a node that cannot be read, or whose file misses a node of the
record, is a failure, as is a node the announcement could not tell.

The table's first line names the flavour. Columns: ``step``; ``kind`` (``node`` or
``group``); ``before`` nodes running before the step; ``added``; ``nxc own`` nxc's decision
and orchestration, from the request to the launch, the platform's time left out
(:attr:`nxc.resize.Resize.own_seconds`); ``platform`` the platform's own time (an OAR
submission to the job's start, the ``platform`` phase; ``-`` when the step had none, as the vm
flavour and a machine file never do);
``ready`` launch to every added node ready (the ``boot`` phase); ``seen`` time for every
existing node to get the new hosts list (the announcement); ``total`` the call's wall time;
``ratio`` nxc's own part against the first step's, measured in the same run (flat means it
does not grow with the deployment); ``fail`` failures found after the step. The last line is
the figure tracked: ``elastic: N steps, nxc's own part p50 X s, max Y s``.

    python benchmarks/elastic.py [--steps 4] [--group-steps 2] [--interval 15]
    sudo python benchmarks/elastic.py --flavour g5k-ramdisk [--oar] [--steps 4] [--group-steps 2]

Needs qemu-system-x86 and what the test-bed guest build needs (see tests/testbed/); vde2 for
the vm mode; root, ``ip`` and busybox (udhcpd) for the kexec mode's host VMs; for ``--oar``,
the packages ``oar-server oar-server-pgsql oar-node oar-user postgresql``
(``scripts/setup.sh``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nxc  # noqa: E402
from nxc.deployment import DeploymentStore  # noqa: E402
from nxc.flavours.base import Flavour, get_flavour  # noqa: E402
from nxc.flavours.g5k.hosts import HostSource  # noqa: E402
from nxc.platforms.oar import OarRequest  # noqa: E402
from nxc.resize import Resize, add_nodes  # noqa: E402
from nxc.roles import parse_role_options  # noqa: E402
from tests.g5k.hostvms import PARAMS, HostLab  # noqa: E402
from tests.oar.conftest import OAR_SERVER, REQUIRED, OarStandIn, _found, _setup  # noqa: E402
from tests.testbed.build import KERNEL_PARAMS, Artifacts, build  # noqa: E402

COMPOSITION = "elastic"
MEMORY = "192M"
SINGLE = ["provider=1"]
GROUP = ["manager=1", "provider=1"]
FLAVOURS = ("vm", "g5k-ramdisk")
HOST_PREFIX = "10.215.2"
"""The kexec mode's host addresses: neither the tests' 10.215.0.0/24 nor
benchmarks/kexec_deploy.py's 10.215.1.0/24, so that all three can run at once."""
HOST_PROPERTIES = f"network_address LIKE '{HOST_PREFIX}.%'"
"""OAR's selection of the run's host VMs, never the stand-in's namespace nodes."""
WALLTIME = "4:00:00"
"""Each job's walltime: longer than any run; the deployment's stop deletes its jobs."""

FlavourFor = Callable[[int], Flavour]
"""The flavour a step's nodes are started with, given how many hosts they take."""


@dataclass(frozen=True)
class Step:
    """One step's measures."""

    number: int
    kind: str
    before: int
    change: Resize
    total: float
    failures: int

    @property
    def added(self) -> int:
        return len(self.change.added)


def write_project(root: Path, flavour: str, guest: Artifacts, cmdline: str) -> Path:
    """A project folder whose latest ``flavour`` build has roles manager and provider (the
    guest booted with kernel parameters ``cmdline``)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    roles = {
        role: {"system": f"/nix/store/{'0' * 32}-role-{role}", "default_count": count}
        for role, count in (("manager", 1), ("provider", 0))
    }
    artefacts = {"kernel": str(guest.kernel), "initrd": str(guest.initrd), "cmdline": cmdline}
    manifest = {
        "nxc_manifest": 1,
        "flavour": flavour,
        "system": "x86_64-linux",
        "compositions": {COMPOSITION: {"roles": roles, "artefacts": artefacts}},
    }
    folder = root / "build" / f"{COMPOSITION}::{flavour}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def hosts_failures(name: str, project: Path) -> int:
    """Nodes whose ``/etc/hosts`` cannot be read or misses a node of the record."""
    env = nxc.open_deployment(name, project=project)
    try:
        wanted = set(env.hostnames())
        failures = 0
        for result in env.run("cat /etc/hosts", timeout=60).results.values():
            listed = {word for line in result.stdout.splitlines() for word in line.split()[1:]}
            failures += not result.ok or not wanted <= listed
        return failures
    finally:
        env.close()


def grow(
    store: DeploymentStore, name: str, number: int, kind: str, flavour: FlavourFor, project: Path
) -> Step:
    """Add one step's nodes (a provider, or a manager and a provider) and check every node."""
    before = len(store.load(name).nodes)
    roles = SINGLE if kind == "node" else GROUP
    quantities = parse_role_options(roles)
    step_flavour = flavour(len(roles))
    began = time.monotonic()
    change = add_nodes(store, name, quantities, flavour=step_flavour)
    total = time.monotonic() - began
    failures = len(change.announcement.failed) + hosts_failures(name, project)
    return Step(number, kind, before, change, total, failures)


def grow_steps(
    store: DeploymentStore, name: str, flavour: FlavourFor, project: Path, args: argparse.Namespace
) -> list[Step]:
    """The steps, one every ``args.interval`` seconds, on the running deployment ``name``."""
    kinds = ["node"] * args.steps + ["group"] * args.group_steps
    steps: list[Step] = []
    start_at = time.monotonic()
    for number, kind in enumerate(kinds, 1):
        time.sleep(max(0.0, start_at - time.monotonic()))
        start_at = time.monotonic() + args.interval
        steps.append(grow(store, name, number, kind, flavour, project))
        print(f"step {number}: {len(store.load(name).nodes)} nodes", file=sys.stderr)
    return steps


def print_table(flavour: str, steps: list[Step]) -> None:
    """The flavour, the table (one row per step) and the summary line."""
    print(f"elastic deployment, flavour {flavour}")
    header = (
        f"{'step':>4} {'kind':>5} {'before':>6} {'added':>5} {'nxc own s':>9} {'platform s':>10} "
        f"{'ready s':>7} {'seen s':>6} {'total s':>7} {'ratio':>5} {'fail':>4}"
    )
    print(header)
    print("-" * len(header))
    first = steps[0].change.own_seconds if steps else 0.0
    for step in steps:
        own = step.change.own_seconds
        ratio = own / first if first > 0 else float("nan")
        platform = step.change.phases.get("platform")
        print(
            f"{step.number:>4} {step.kind:>5} {step.before:>6} {step.added:>5} {own:>9.3f} "
            f"{'-' if platform is None else f'{platform:.1f}':>10} "
            f"{step.change.phases.get('boot', 0.0):>7.1f} "
            f"{step.change.announcement.seconds:>6.2f} {step.total:>7.1f} {ratio:>5.2f} "
            f"{step.failures:>4}"
        )
    owns = [step.change.own_seconds for step in steps] or [0.0]
    print(
        f"elastic: {len(steps)} steps, nxc's own part p50 {statistics.median(owns):.3f} s, "
        f"max {max(owns):.3f} s"
    )


def run_vm(args: argparse.Namespace, work: Path, guest: Artifacts) -> list[Step]:
    """The vm mode: one manager VM grown step by step; the deployment is stopped."""
    project = write_project(work / "project", "vm", guest, KERNEL_PARAMS)
    options: dict[str, Any] = {"accel": "tcg", "memory": args.memory, "timeout": args.timeout}
    env = nxc.start({"manager": 1}, flavour="vm", project=project, **options)
    try:
        return grow_steps(
            env.store, env.name, lambda _: get_flavour("vm", **options), project, args
        )
    finally:
        env.stop()


@contextmanager
def host_vms(work: Path, guest: Artifacts, count: int) -> Iterator[HostLab]:
    """``count`` host VMs booted in their standard environment; all stopped and their
    devices removed on the way out."""
    lab = HostLab(work / "hosts", guest.kernel, guest.initrd, count, HOST_PREFIX)
    try:
        yield lab.open()
    finally:
        lab.close()


def host_count(args: argparse.Namespace) -> int:
    """The kexec modes' host VMs: the manager's, one per node step, two per group step."""
    return 1 + args.steps + 2 * args.group_steps


def run_kexec(args: argparse.Namespace, work: Path, guest: Artifacts) -> list[Step]:
    """The kexec mode: one manager on the first host of a machine file, grown step by step
    on the others; the deployment is stopped and the host VMs with it."""
    with host_vms(work, guest, host_count(args)) as lab:
        machine_file = work / "machine-file"
        machine_file.write_text("".join(f"{host}\n" for host in lab.hosts))
        project = write_project(work / "project", "g5k-ramdisk", guest, PARAMS)
        options: dict[str, Any] = {
            "hosts": HostSource(machine_file=machine_file, check_with_oar=False),
            "host_ssh_options": lab.ssh_options(),
            "timeout": args.timeout,
        }
        env = nxc.start({"manager": 1}, flavour="g5k-ramdisk", project=project, **options)
        try:
            return grow_steps(
                env.store, env.name, lambda _: get_flavour("g5k-ramdisk", **options), project, args
            )
        finally:
            env.stop()


def oar_missing() -> list[str]:
    """What the OAR stand-in needs and this machine lacks: root, tools (with their package)."""
    missing = [] if os.geteuid() == 0 else ["root"]
    missing += [f"{tool} ({package})" for tool, package in REQUIRED.items() if not _found(tool)]
    if not OAR_SERVER.exists():
        missing.append(f"{OAR_SERVER} (oar-server)")
    if not Path("/usr/lib/postgresql").is_dir():
        missing.append("/usr/lib/postgresql (postgresql)")
    return missing


@contextmanager
def oar_standin(hosts: list[str]) -> Iterator[OarStandIn]:
    """The OAR stand-in with ``hosts`` declared ``deploy=YES`` nodes, ``Alive``; torn down
    (jobs deleted, server stopped, database cluster dropped) on the way out."""
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="nxc-elastic-oar-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        standin = _setup(stack, folder)
        for host in hosts:
            standin.admin("oarnodesetting", "-a", "-h", host, "-p", "deploy=YES")
            standin.admin("oarnodesetting", "-s", "Alive", "-h", host)
        yield standin


def oar_hosts(standin: OarStandIn, nodes: int, wait: float) -> HostSource:
    """A new ``-t deploy`` job of ``nodes`` of the run's host VMs, waited for ``wait`` s."""
    request = OarRequest(
        f"nodes={nodes}",
        walltime=WALLTIME,
        job_types=("deploy",),
        properties=HOST_PROPERTIES,
        directory=str(standin.user_dir("job")),
    )
    return HostSource(oar_request=request, frontend=standin.frontend, wait_timeout=wait)


def run_kexec_oar(args: argparse.Namespace, work: Path, guest: Artifacts) -> list[Step]:
    """The kexec mode through OAR: the manager on a job of one host, every step on a new job
    of its own; the deployment is stopped (its jobs deleted), then the stand-in and the host
    VMs."""
    with host_vms(work, guest, host_count(args)) as lab, oar_standin(lab.hosts) as standin:
        project = write_project(work / "project", "g5k-ramdisk", guest, PARAMS)
        options: dict[str, Any] = {"host_ssh_options": lab.ssh_options(), "timeout": args.timeout}
        first = oar_hosts(standin, 1, args.timeout)
        env = nxc.start(
            {"manager": 1}, flavour="g5k-ramdisk", project=project, hosts=first, **options
        )

        def on_new_job(nodes: int) -> Flavour:
            return get_flavour(
                "g5k-ramdisk", hosts=oar_hosts(standin, nodes, args.timeout), **options
            )

        try:
            return grow_steps(env.store, env.name, on_new_job, project, args)
        finally:
            env.stop()


def run(args: argparse.Namespace, work: Path) -> list[Step]:
    """Build the guest and run the mode of ``args.flavour``."""
    guest = build("busybox", work / "guest")
    if args.flavour == "vm":
        return run_vm(args, work, guest)
    if args.oar:
        return run_kexec_oar(args, work, guest)
    return run_kexec(args, work, guest)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; 1 when a step found failures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavour", choices=FLAVOURS, default="vm", help="vm or the kexec path")
    parser.add_argument("--steps", type=int, default=4, help="steps adding one provider")
    parser.add_argument("--group-steps", type=int, default=2, help="steps adding a group")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between steps")
    parser.add_argument(
        "--oar", action="store_true", help="g5k-ramdisk: hosts reserved from an OAR stand-in"
    )
    parser.add_argument("--memory", default=MEMORY, help="memory of each VM (vm mode)")
    parser.add_argument("--timeout", type=float, default=600.0, help="ready timeout per step")
    parser.add_argument(
        "--workdir", type=Path, help="keep the guest and the project here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.steps < 0 or args.group_steps < 0 or args.steps + args.group_steps == 0:
        parser.error("--steps and --group-steps: whole numbers >= 0, at least one step in all")
    if args.interval < 0:
        parser.error("--interval: seconds >= 0")
    if args.oar and args.flavour != "g5k-ramdisk":
        parser.error("--oar reserves hosts for the kexec path: add --flavour g5k-ramdisk")
    if args.oar and (missing := oar_missing()):
        parser.error(
            f"--oar runs an OAR stand-in, which needs {', '.join(missing)}: run as root after "
            "scripts/setup.sh"
        )
    if args.workdir is not None:
        steps = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="nxc-elastic-bench-") as folder:
            steps = run(args, Path(folder))
    print_table(args.flavour, steps)
    return 1 if any(step.failures for step in steps) else 0


if __name__ == "__main__":
    sys.exit(main())
