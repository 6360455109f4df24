"""``nxc stop``: undo everything a deployment record lists (processes, sockets, secrets)."""

from __future__ import annotations

from typing import Annotated

import typer


def stop(
    name: Annotated[
        str | None,
        typer.Argument(help="The deployment (composition::flavour[::tag]); default: the latest."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="Do not wait for a running 'nxc start' nor for nodes to shut down cleanly.",
        ),
    ] = False,
) -> None:
    """Stop a deployment and undo all it started; safe to repeat."""
    from nxc.cli.app import settings
    from nxc.deploy import stop_deployment
    from nxc.project import find_project

    store = find_project(settings.envdir).deployments
    deployment = stop_deployment(store, name, force=force)
    typer.echo(f"stopped {deployment.name} ({len(deployment.nodes)} node(s))")


def register(app: typer.Typer) -> None:
    """Add ``nxc stop`` to the application."""
    app.command("stop")(stop)
