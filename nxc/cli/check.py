"""``nxc check``: evaluate every role of every output without building; report per role."""

from __future__ import annotations

from typing import Annotated

import typer

from nxc.cli.build import (
    NixFlagsOption,
    OfflineOption,
    SetupParamOption,
    SetupVariantOption,
    ShowTraceOption,
    open_flake_outputs,
)


def check(
    output: Annotated[
        str | None,
        typer.Argument(help="One output COMPOSITION::FLAVOUR (default: all of them)."),
    ] = None,
    flavour: Annotated[
        str | None, typer.Option("--flavour", "-f", help="Only the outputs of this flavour.")
    ] = None,
    variant: SetupVariantOption = None,
    params: SetupParamOption = None,
    show_trace: ShowTraceOption = False,
    nix_flags: NixFlagsOption = None,
    offline: OfflineOption = False,
) -> None:
    """Evaluate every role of the outputs; report each one that fails.

    Nothing is built. Each output gets one line, 'ok' or 'FAILED' with the failing roles and
    their errors; the exit code is 1 if any output fails.
    """
    from nxc import build as builder
    from nxc.errors import ProjectError

    flake = open_flake_outputs(flavour, variant, params, show_trace, nix_flags, offline)
    outputs = flake.names
    if output is not None:
        outputs = [builder.choose_output(outputs, flavour, output)]
    elif flavour is not None:
        outputs = [name for name in outputs if name.endswith(f"::{flavour}")]
    if not outputs:
        raise ProjectError(f"{flake.project.flake_file}: no COMPOSITION::FLAVOUR output to check")
    failed = 0
    for name in outputs:
        checked, problems = builder.check_output(flake.nix, flake.project.root, flake.system, name)
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
