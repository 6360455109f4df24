"""``nxc check``: evaluate every role of every output without building; report per role."""

from __future__ import annotations

from typing import Annotated

import typer


def check(
    output: Annotated[
        str | None,
        typer.Argument(help="One output COMPOSITION::FLAVOUR (default: all of them)."),
    ] = None,
    flavour: Annotated[
        str | None, typer.Option("--flavour", "-f", help="Only the outputs of this flavour.")
    ] = None,
    variant: Annotated[
        str | None, typer.Option("--setup", "-s", help="setup.toml variant to use.")
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="setup parameter KEY=VALUE (repeatable)."),
    ] = None,
    show_trace: Annotated[
        bool, typer.Option("--show-trace", help="Pass --show-trace to Nix.")
    ] = False,
    nix_flags: Annotated[
        str | None, typer.Option("--nix-flags", help="Extra flags for Nix.")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="No binary caches (also: NXC_NIX_OFFLINE=1).")
    ] = False,
) -> None:
    """Evaluate the project's outputs and name each role that fails, with its error."""
    from nxc import build as builder
    from nxc.cli.app import settings
    from nxc.cli.build import open_nix
    from nxc.errors import ProjectError
    from nxc.project import find_project

    project = find_project(settings.envdir)
    builder.check_flavour(flavour, "-f/--flavour")
    env = builder.setup_overrides(variant, list(params or []))
    nix = open_nix(show_trace, nix_flags, offline, env)
    system = builder.nix_system()
    outputs = builder.list_outputs(nix, project.root, system)
    if output is not None:
        outputs = [builder.choose_output(outputs, None, output)]
    elif flavour is not None:
        outputs = [o for o in outputs if o.endswith(f"::{flavour}")]
    if not outputs:
        raise ProjectError(f"{project.flake_file}: no COMPOSITION::FLAVOUR output to check")
    failed = 0
    for name in outputs:
        checked, problems = builder.check_output(nix, project.root, system, name)
        if not problems:
            typer.echo(f"ok      {name} ({len(checked)} roles)")
            continue
        failed += 1
        for problem in problems:
            where = f"role {problem.composition}.{problem.role}" if problem.role else "output"
            typer.echo(f"FAILED  {name} {where}: {problem.message}")
    if failed:
        typer.echo(f"nxc: {failed} of {len(outputs)} outputs fail to evaluate", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``nxc check``."""
    app.command("check")(check)
