"""What ``nxc start`` prints as :func:`nxc.start_sequence.carry_out` goes: the plan of a dry
run, progress on stderr, the ready line, what was added or repaired, the stop."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import typer

from nxc.cli.flags import FLAGS
from nxc.errors import fill_options
from nxc.start_request import AfterStart

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nxc.deployment import Deployment
    from nxc.flavours.base import ProgressHook
    from nxc.plan import Plan
    from nxc.resize import Resize


class CliStartReporter:
    """The :class:`~nxc.start_sequence.StartReporter` of the command line."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def ignored(self, note: str) -> None:
        """Said under ``--debug`` only, as NixOS-Compose ignored these silently."""
        if self.debug:
            typer.echo(f"nxc: {fill_options(note, FLAGS)}", err=True)

    def planned(self, plan: Plan, after: AfterStart) -> None:
        width = max(len("HOSTNAME"), *(len(node.hostname) for node in plan.nodes))
        lines = [
            f"{plan.deployment_name}: {len(plan.nodes)} node(s) "
            "(dry run: nothing started or written)",
            f"{'HOSTNAME':<{width}}  ROLE",
        ]
        lines += [f"{node.hostname:<{width}}  {node.role}" for node in plan.nodes]
        lines += [f"parameter {key}={value}" for key, value in plan.parameters.items()]
        if plan.min_nodes is not None:
            lines.append(
                f"goes on with at least {plan.min_nodes} of {len(plan.nodes)} node(s) ready"
            )
        if after is AfterStart.TEST_SCRIPT:
            lines.append("then: run the composition's test script")
        typer.echo("\n".join(lines))

    @contextlib.contextmanager
    def progress(self, total: int) -> Iterator[ProgressHook]:
        """A live 'booted n/N, ready n/N' display on a terminal (rich, imported only here),
        one plain line per node and stage otherwise (CI logs)."""
        from rich.console import Console

        from nxc.flavours import Stage

        console = Console(stderr=True)
        if not console.is_terminal:
            counts = {Stage.BOOTED: 0, Stage.READY: 0}

            def report(hostname: str, stage: Stage) -> None:
                if stage in counts:
                    counts[stage] += 1
                    typer.echo(f"nxc: {hostname} {stage} ({counts[stage]}/{total})", err=True)

            yield report
            return

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        display = Progress(
            TextColumn("{task.description:>7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        tasks = {
            Stage.BOOTED: display.add_task("booted", total=total),
            Stage.READY: display.add_task("ready", total=total),
        }

        def advance(hostname: str, stage: Stage) -> None:
            task = tasks.get(stage)
            if task is not None:
                display.advance(task)

        with display:
            yield advance

    def relaunched(self, hostname: str) -> None:
        typer.echo(f"nxc: {hostname} relaunched", err=True)

    def repaired(self, name: str, hostnames: list[str]) -> None:
        if hostnames:
            typer.echo(f"{name}: relaunched {', '.join(hostnames)}; every node is alive again")
        else:
            typer.echo(f"{name}: every node is alive; nothing to repair")

    def added(self, name: str, change: Resize) -> None:
        phases = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in change.phases.items())
        typer.echo(f"{name}: added {', '.join(change.added)} ({phases})")
        for hostname, why in change.announcement.failed.items():
            typer.echo(f"warning: {hostname} did not get the new hosts list: {why}", err=True)

    def ready(self, deployment: Deployment, after: AfterStart) -> None:
        ready = f"{deployment.name}: {len(deployment.nodes)} node(s) ready"
        if deployment.failed_nodes:
            names = ", ".join(node.hostname for node in deployment.failed_nodes)
            ready += f" ({len(deployment.failed_nodes)} did not come up and are left out: {names})"
        if after is AfterStart.TEST_SCRIPT:
            typer.echo(f"{ready}; running the test script, then stopping them")
        else:
            typer.echo(
                f"{ready} (see 'nxc status {deployment.name}', "
                f"stop with 'nxc stop {deployment.name}')"
            )

    def holding(self) -> None:
        from nxc.cli import install_signal_handlers

        typer.echo("staying in the foreground: Ctrl-C stops the nodes")
        install_signal_handlers(force=True)

    def stopped(self, name: str) -> None:
        typer.echo(f"stopped {name}")

    def kept(self, name: str) -> None:
        typer.echo(f"{name} keeps running; stop it with 'nxc stop {name}'")
