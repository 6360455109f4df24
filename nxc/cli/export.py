"""``nxc export``: a deployment's provenance, as JSON or Markdown, for an artefact appendix."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nxc.errors import InputError

STDOUT = "-"


class ExportFormat(StrEnum):
    """What ``nxc export`` writes."""

    json = "json"
    markdown = "markdown"


SUFFIXES = {ExportFormat.json: ".json", ExportFormat.markdown: ".md"}


def export(
    name: Annotated[
        str | None,
        typer.Argument(help="A deployment (composition::flavour[::tag]); default: the latest."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to write ('-': standard output); default: "
            "artifact/<NAME>.provenance.json (or .md).",
        ),
    ] = None,
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="json or markdown.")
    ] = ExportFormat.json,
) -> None:
    """Write a deployment's provenance: nxc version, pinned nixpkgs, store paths, hosts.

    Taken from the deployment's journal when nxc start recorded it there, else gathered now
    from the record, flake.lock and the build manifest. The file is replaced atomically.
    """
    import json

    from nxc.atomic import write_atomic
    from nxc.cli.app import settings
    from nxc.project import find_project
    from nxc.provenance import of_deployment, render_markdown

    project = find_project(settings.envdir)
    store = project.deployments
    name = name or store.latest().name
    provenance, journalled = of_deployment(project.root, store, name)
    if output_format is ExportFormat.json:
        text = json.dumps(provenance, indent=2) + "\n"
    else:
        text = render_markdown(provenance)
    if output == Path(STDOUT):
        typer.echo(text, nl=False)
        return
    if output is None:
        folder = project.ensure_dir(project.artifact_dir)
        output = folder / f"{name}.provenance{SUFFIXES[output_format]}"
    elif not output.parent.is_dir():
        raise InputError(f"-o/--output {output}: folder {output.parent} does not exist")
    write_atomic(output, text)
    source = "from its journal" if journalled else "gathered now (not in its journal)"
    typer.echo(f"wrote the provenance of {name} to {output} ({source})")


def register(app: typer.Typer) -> None:
    """Add ``nxc export`` to the application."""
    app.command("export")(export)
