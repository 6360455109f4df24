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
    ci: Annotated[
        str | None,
        typer.Option(
            "--ci",
            help="Also add a CI workflow that builds for vm and runs nxc start -t: github or gitlab.",
        ),
    ] = None,
) -> None:
    """Create a new project from a template shipped with nxc.

    The project gets flake.nix, a composition and nxc.json; no network is needed.
    """
    from nxc import resources
    from nxc.errors import ProjectError

    if list_templates:
        for name, description in resources.templates().items():
            typer.echo(f"{name:20} {description}")
        return
    target = folder.absolute()
    if ci is not None and ci not in resources.CI_WORKFLOWS:
        raise ProjectError(
            f"--ci {ci}: unknown CI service; use one of: {', '.join(resources.CI_WORKFLOWS)}"
        )
    url = nxc_url or resources.flake_url()
    count = resources.create_project(template, target, url)
    typer.echo(f"nxc: created {target} from template '{template}' ({count} files), nxc = {url}")
    if ci is not None:
        workflow = resources.add_ci_workflow(target, ci)
        typer.echo(
            f"nxc: added {workflow.relative_to(target)} ({ci} CI: nxc build -f vm, nxc start -t)"
        )
        if url.startswith("path:"):
            typer.echo(
                "nxc: flake.nix names nxc by a local path, which CI cannot fetch: "
                "set its nxc.url to a URL CI reaches (or use --nxc-url)",
                err=True,
            )


def register(app: typer.Typer) -> None:
    """Add ``nxc init``."""
    app.command("init")(init)
