"""``nxc clean``: remove this project's build/, deploy/ and artifact/ folders."""

from __future__ import annotations

from typing import Annotated

import typer


def clean(
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "-f",
            help="Clean even while deployments are recorded as running (their processes stay).",
        ),
    ] = False,
) -> None:
    """Remove the project's build/, deploy/ and artifact/ folders.

    Refuses while a deployment is recorded as running: stop it first with 'nxc stop'.
    """
    from nxc.cli.app import settings
    from nxc.project import find_project

    project = find_project(settings.envdir)
    removed = project.clean(force=force)
    if not removed:
        typer.echo(f"nothing to clean in {project.root}")
    for folder in removed:
        typer.echo(f"removed {folder}")


def register(app: typer.Typer) -> None:
    """Add ``nxc clean`` to the application."""
    app.command("clean")(clean)
