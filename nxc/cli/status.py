"""``nxc status``: the recorded deployments, or one deployment's nodes."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from nxc.errors import InputError, JournalError

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore


def status(
    name: Annotated[
        str | None,
        typer.Argument(help="A deployment (composition::flavour[::tag]); default: list them all."),
    ] = None,
    live: Annotated[
        bool,
        typer.Option("--live", "-l", help="Also ask the flavour which nodes run now."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the record(s) as JSON.")] = False,
    journal: Annotated[
        bool,
        typer.Option(
            "--journal", help="Print NAME's journal: one event a line (time, kind, what)."
        ),
    ] = False,
) -> None:
    """Show the recorded deployments, or the nodes of one.

    Without NAME: each deployment's flavour, recorded state and node count. With NAME: its
    nodes, roles, addresses and states (--live asks the flavour what runs now); --journal:
    what happened to it (commands, phases and their durations, nodes added, failed, repaired).
    """
    from nxc.cli.app import settings
    from nxc.project import find_project

    store = find_project(settings.envdir).deployments
    if journal:
        if name is None:
            raise InputError("--journal shows one deployment's journal: give its NAME")
        _print_journal(store, name, as_json)
        return
    if name is None:
        deployments = store.list()
        if as_json:
            _print_json([deployment.to_dict() for deployment in deployments])
        elif not deployments:
            typer.echo(f"no deployment recorded in {store.deploy_dir}")
        else:
            _print_deployments(deployments)
        return
    deployment = store.load(name)
    if as_json:
        _print_json(deployment.to_dict())
        return
    live_states = _probe(deployment) if live else None
    _print_nodes(deployment, live_states)


def _print_journal(store: DeploymentStore, name: str, as_json: bool) -> None:
    from nxc.journal import Journal

    journal = Journal(store, name)
    if not journal.exists():
        raise JournalError(
            f"no journal for {name!r} ({journal.path} does not exist); deployments started "
            "by this nxc keep one"
        )
    contents = journal.read()
    if as_json:
        _print_json([event.to_dict() for event in contents.events])
    else:
        for event in contents.events:
            typer.echo(f"{event.time}  {event.kind:<14}  {event.summary()}")
    if contents.torn_line is not None:
        typer.echo(
            f"nxc: note: {journal.path}: line {contents.torn_line} is incomplete (a writer "
            "stopped mid-line, or is writing now); skipped",
            err=True,
        )


def _probe(deployment: Deployment) -> dict[str, str] | None:
    from nxc.deploy import live_states

    states = live_states(deployment)
    if states is None:
        typer.echo(
            f"nxc: note: this nxc cannot probe flavour '{deployment.flavour}'; "
            "showing recorded states only",
            err=True,
        )
        return None
    return {hostname: str(state) for hostname, state in states.items()}


def _print_deployments(deployments: list[Deployment]) -> None:
    rows = [
        [d.name, d.flavour, _state(d), str(len(d.nodes)), _when(d.created_at)] for d in deployments
    ]
    _print_table(["NAME", "FLAVOUR", "STATE", "NODES", "CREATED"], rows)
    for deployment in deployments:
        _note_gone_starter(deployment)


def _state(deployment: Deployment) -> str:
    """The recorded state, marked when the ``nxc start`` behind a ``starting`` record is gone."""
    if deployment.starter_gone:
        return f"{deployment.state} (process gone)"
    return str(deployment.state)


def _note_gone_starter(deployment: Deployment) -> None:
    if deployment.starter_gone:
        pid = deployment.started_by["pid"] if deployment.started_by else "?"
        typer.echo(
            f"nxc: note: {deployment.name} says starting, but the nxc start that was starting "
            f"it (pid {pid}) is gone; clean up what it left with 'nxc stop {deployment.name}'",
            err=True,
        )


def _print_nodes(deployment: Deployment, live_states: dict[str, str] | None) -> None:
    roles = ", ".join(f"{role}={len(hosts)}" for role, hosts in deployment.roles().items())
    typer.echo(
        f"{deployment.name}: {_state(deployment)}, flavour {deployment.flavour}, "
        f"roles {roles or 'none'}, created {_when(deployment.created_at)}, "
        f"updated {_when(deployment.updated_at)}"
    )
    headers = ["HOSTNAME", "ROLE", "ADDRESS", "SSH", "STATE"]
    if live_states is not None:
        headers.append("LIVE")
    rows = []
    for node in deployment.nodes:
        ssh = f"{node.ssh_host}:{node.ssh_port}" if node.ssh_host else "-"  # not yet known
        row = [node.hostname, node.role, node.address or "-", ssh]
        row.append(str(node.state))
        if live_states is not None:
            row.append(live_states.get(node.hostname, "unknown"))
        rows.append(row)
    _print_table(headers, rows)
    for node in deployment.failed_nodes:
        typer.echo(f"failed: {node.hostname} ({node.role}): {node.failure or '?'}")
    for role, times in deployment.activation.items():
        activated = times["activated_at"]
        when = "at boot" if activated is None else f"activated at {activated:.1f} s"
        typer.echo(f"role {role}: {when}, ready at {times['ready_at'] or 0:.1f} s")
    _note_gone_starter(deployment)


def _when(timestamp: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _print_json(data: object) -> None:
    import json

    typer.echo(json.dumps(data, indent=2))


def _print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A rich table on a terminal, aligned plain columns otherwise (pipes, files, tests)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(*headers, box=None, header_style="bold")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    for line in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        typer.echo("  ".join(cells).rstrip())


def register(app: typer.Typer) -> None:
    """Add ``nxc status`` to the application."""
    app.command("status")(status)
