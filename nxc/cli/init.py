"""``nxc init``: a new project from a template shipped with nxc (no network needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init(
    folder: Annotated[
        Path, typer.Argument(help="Folder of the new project (created if missing).")
    ] = Path("."),
    template: Annotated[
        str, typer.Option("--template", "-t", help="Template to start from.")
    ] = "basic",
    list_templates: Annotated[
        bool, typer.Option("--list", help="List the templates and exit.")
    ] = False,
    nxc_url: Annotated[
        str | None,
        typer.Option("--nxc-url", help="Flake URL of nxc for the project (default: this nxc)."),
    ] = None,
) -> None:
    """Create a new project from a template shipped with nxc.

    The project gets flake.nix, a composition and nxc.json; no network is needed.
    """
    from nxc import resources

    if list_templates:
        for name, description in resources.templates().items():
            typer.echo(f"{name:20} {description}")
        return
    target = folder.absolute()
    url = nxc_url or resources.flake_url()
    count = resources.create_project(template, target, url)
    typer.echo(f"nxc: created {target} from template '{template}' ({count} files), nxc = {url}")


def register(app: typer.Typer) -> None:
    """Add ``nxc init``."""
    app.command("init")(init)
