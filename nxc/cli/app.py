"""The Typer application: global options and command registration.

Command modules keep their top level light (typer, pathlib, nxc.errors): heavy imports
(asyncssh, execo, rich, docker, libtmux...) go inside the command functions so that
``nxc --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nxc import __version__
from nxc.cli.commands import register_all
from nxc.cli.settings import Settings

settings = Settings()

app = typer.Typer(
    name="nxc",
    help="Compose reproducible distributed environments: build, start, connect, test, stop.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rendering it with rich costs ~100 ms of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"nxc {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    envdir: Annotated[
        Path | None,
        typer.Option("--envdir", "-d", help="Project folder (default: found upward from here)."),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More output (repeat for more).")
    ] = 0,
    debug: Annotated[
        bool, typer.Option("--debug", "-D", help="Show tracebacks and external commands.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print version."),
    ] = False,
) -> None:
    """Global options, valid before any command."""
    settings.envdir = envdir
    settings.verbose = verbose
    settings.debug = debug


register_all(app)
