"""Elastic benchmark (issue 16): what growing a running vm deployment costs, step after step.

A vm deployment of the test-bed guest (QEMU under TCG, ``--memory`` each) starts with one
``manager`` node, through :func:`nxc.start` on a project whose one build (composition
``elastic``, roles ``manager`` and ``provider``, both booting the guest) sits under
``build/``. Then, one step every ``--interval`` seconds (step starts, not gaps):

* ``--steps`` steps add one ``provider`` node each (a monitor asking for one more storage
  provider);
* ``--group-steps`` steps add one {manager, provider} group each, two roles in one request.

Every step goes through :func:`nxc.resize.add_nodes` (what ``nxc start --add`` and
``Environment.add_nodes`` run; called directly because a group is two roles at once), with
the same TCG flavour the deployment started with. After each step the deployment is opened
again (:func:`nxc.open_deployment`) and every node's ``/etc/hosts`` is read: a node that
cannot be read, or whose file misses a node of the record, is a failure, as is a node the
announcement could not tell.

Columns: ``step``; ``kind`` (``node`` or ``group``); ``before`` nodes running before the
step; ``added``; ``nxc own`` nxc's decision and orchestration, from the request to the launch
(:attr:`nxc.resize.Resize.own_seconds`: plan, allocate, prepare); ``platform`` the platform's
own time (an OAR submission to the job's start; the vm flavour has none: ``-``); ``ready``
launch to every added node ready (the ``boot`` phase); ``seen`` time for every existing node
to get the new hosts list (the announcement); ``total`` the call's wall time; ``ratio`` nxc's
own part against the first step's, measured in the same run (flat means it does not grow
with the deployment); ``fail`` failures found after the step. The last line is the figure
tracked: ``elastic: N steps, nxc's own part p50 X s, max Y s``.

The issue also asks for the kexec path against the OAR stand-in: not measured here, since the
kexec flavours cannot add nodes yet (``Flavour.allocate_added`` raises
``UnsupportedOperationError`` for the g5k-* flavours).

    python benchmarks/elastic.py [--steps 4] [--group-steps 2] [--interval 15]

Needs qemu-system-x86, vde2 and what the test-bed guest build needs (see tests/testbed/).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nxc  # noqa: E402
from nxc.api import Environment  # noqa: E402
from nxc.flavours.vm.flavour import VmFlavour  # noqa: E402
from nxc.resize import Resize, add_nodes  # noqa: E402
from nxc.roles import parse_role_options  # noqa: E402
from tests.testbed.build import KERNEL_PARAMS, build  # noqa: E402

COMPOSITION = "elastic"
MEMORY = "192M"
SINGLE = ["provider=1"]
GROUP = ["manager=1", "provider=1"]


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


def write_project(root: Path, kernel: Path, initrd: Path) -> Path:
    """A project folder whose latest vm build has roles manager and provider (the guest)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    roles = {
        role: {"system": f"/nix/store/{'0' * 32}-role-{role}", "default_count": count}
        for role, count in (("manager", 1), ("provider", 0))
    }
    artefacts = {"kernel": str(kernel), "initrd": str(initrd), "cmdline": KERNEL_PARAMS}
    manifest = {
        "nxc_manifest": 1,
        "flavour": "vm",
        "system": "x86_64-linux",
        "compositions": {COMPOSITION: {"roles": roles, "artefacts": artefacts}},
    }
    folder = root / "build" / f"{COMPOSITION}::vm"
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


def grow(env: Environment, number: int, kind: str, flavour: VmFlavour, project: Path) -> Step:
    """Add one step's nodes (a provider, or a manager and a provider) and check every node."""
    before = len(env.hostnames())
    quantities = parse_role_options(SINGLE if kind == "node" else GROUP)
    began = time.monotonic()
    change = add_nodes(env.store, env.name, quantities, flavour=flavour)
    total = time.monotonic() - began
    failures = len(change.announcement.failed) + hosts_failures(env.name, project)
    return Step(number, kind, before, change, total, failures)


def print_table(steps: list[Step]) -> None:
    """The table, one row per step, and the summary line."""
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
        print(
            f"{step.number:>4} {step.kind:>5} {step.before:>6} {step.added:>5} {own:>9.3f} "
            f"{'-':>10} {step.change.phases.get('boot', 0.0):>7.1f} "
            f"{step.change.announcement.seconds:>6.2f} {step.total:>7.1f} {ratio:>5.2f} "
            f"{step.failures:>4}"
        )
    owns = [step.change.own_seconds for step in steps] or [0.0]
    print(
        f"elastic: {len(steps)} steps, nxc's own part p50 {statistics.median(owns):.3f} s, "
        f"max {max(owns):.3f} s"
    )


def run(args: argparse.Namespace, work: Path) -> list[Step]:
    """Build the guest, start one manager, grow step by step; the deployment is stopped."""
    guest = build("busybox", work / "guest")
    project = write_project(work / "project", guest.kernel, guest.initrd)
    options = {"accel": "tcg", "memory": args.memory, "timeout": args.timeout}
    env = nxc.start({"manager": 1}, flavour="vm", project=project, **options)
    try:
        flavour = VmFlavour(**options)
        kinds = ["node"] * args.steps + ["group"] * args.group_steps
        steps: list[Step] = []
        start_at = time.monotonic()
        for number, kind in enumerate(kinds, 1):
            time.sleep(max(0.0, start_at - time.monotonic()))
            start_at = time.monotonic() + args.interval
            steps.append(grow(env, number, kind, flavour, project))
            env = nxc.open_deployment(env.name, project=project)
            print(f"step {number}: {len(env.hostnames())} nodes", file=sys.stderr)
        return steps
    finally:
        env.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; 1 when a step found failures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="steps adding one provider")
    parser.add_argument("--group-steps", type=int, default=2, help="steps adding a group")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between steps")
    parser.add_argument("--memory", default=MEMORY, help="memory of each VM")
    parser.add_argument("--timeout", type=float, default=600.0, help="ready timeout per step")
    parser.add_argument(
        "--workdir", type=Path, help="keep the guest and the project here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if args.steps < 0 or args.group_steps < 0 or args.steps + args.group_steps == 0:
        parser.error("--steps and --group-steps: whole numbers >= 0, at least one step in all")
    if args.interval < 0:
        parser.error("--interval: seconds >= 0")
    if args.workdir is not None:
        steps = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="nxc-elastic-bench-") as folder:
            steps = run(args, Path(folder))
    print_table(steps)
    return 1 if any(step.failures for step in steps) else 0


if __name__ == "__main__":
    sys.exit(main())
