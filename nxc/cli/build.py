"""``nxc build``: build a composition for a flavour into ``build/<composition>::<flavour>``.

The Nix options it shares with ``nxc check`` (``-s``, ``-p``, ``--show-trace``, ``--nix-flags``,
``--offline``) and their handling live here too, with setup.toml's ``[options]``
(:mod:`nxc.setup_options`): ``nix-flags`` when ``--nix-flags`` is not given, and for
``nxc build`` ``flavour``, ``composition-flavour`` and ``composition-file`` when ``-f`` / ``-C``
are not given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from nxc.nix_cli import NixCommand
    from nxc.project import Project
    from nxc.setup_options import SetupOptions

SetupVariantOption = Annotated[
    str | None, typer.Option("--setup", "-s", help="setup.toml variant to use.")
]
SetupParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="setup parameter KEY=VALUE (repeatable)."),
]
ShowTraceOption = Annotated[bool, typer.Option("--show-trace", help="Pass --show-trace to Nix.")]
NixFlagsOption = Annotated[
    str | None,
    typer.Option(
        "--nix-flags",
        help="Extra flags for Nix, e.g. '--cores 4' (replaces setup.toml's [options] nix-flags).",
    ),
]
OfflineOption = Annotated[
    bool, typer.Option("--offline", help="No binary caches (also: NXC_NIX_OFFLINE=1).")
]


@dataclass(frozen=True)
class FlakeOutputs:
    """The project, how Nix runs for this command, and the flake's COMPOSITION::FLAVOUR names."""

    project: Project
    nix: NixCommand
    system: str
    names: list[str]
    setup: SetupOptions
    """setup.toml's ``[options]`` for the chosen variant."""


def open_flake_outputs(
    flavour: str | None,
    variant: str | None,
    params: list[str] | None,
    show_trace: bool,
    nix_flags: str | None,
    offline: bool,
) -> FlakeOutputs:
    """What ``nxc build`` and ``nxc check`` both start with: project, options, Nix, outputs."""
    import shlex

    from nxc import build as builder
    from nxc.cli.app import settings
    from nxc.nix_cli import NixCommand
    from nxc.project import find_project
    from nxc.setup_options import read_setup_options, split_nix_flags

    given_flags = None if nix_flags is None else split_nix_flags(nix_flags, "--nix-flags")
    project = find_project(settings.envdir)
    setup = read_setup_options(project.root, variant)
    warn_unknown_setup_options(setup)
    extra_flags = given_flags if given_flags is not None else setup.nix_flags or ()
    builder.check_flavour(flavour, "-f/--flavour")
    overrides = builder.setup_overrides(variant, list(params or []))
    nix = NixCommand.find(
        show_trace=show_trace,
        extra_flags=list(extra_flags),
        offline=True if offline else None,
    )
    nix.env_overrides = overrides
    if settings.debug:
        nix.on_command = lambda argv: typer.echo(f"nxc: running {shlex.join(argv)}", err=True)
    system = builder.nix_system()
    names = builder.list_outputs(nix, project.root, system)
    return FlakeOutputs(project, nix, system, names, setup)


def warn_unknown_setup_options(setup: SetupOptions) -> None:
    """One warning line for setup.toml options nxc ignores (as NixOS-Compose ignored them)."""
    from nxc.setup_options import KNOWN_KEYS

    if setup.unknown:
        typer.echo(
            f"nxc: warning: setup.toml: {', '.join(setup.unknown)} ignored "
            f"(options nxc reads: {', '.join(KNOWN_KEYS)})",
            err=True,
        )


def build(
    flavour: Annotated[
        str | None,
        typer.Option(
            "--flavour",
            "-f",
            help="Flavour (default: setup.toml's [options] flavour, else nxc.json, else vm).",
        ),
    ] = None,
    composition_flavour: Annotated[
        str | None,
        typer.Option(
            "--composition-flavour",
            "-C",
            help="Output to build: COMPOSITION::FLAVOUR (default: setup.toml's [options] "
            "composition-flavour).",
        ),
    ] = None,
    variant: SetupVariantOption = None,
    params: SetupParamOption = None,
    show_trace: ShowTraceOption = False,
    nix_flags: NixFlagsOption = None,
    offline: OfflineOption = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what Nix would build; build nothing.")
    ] = False,
    list_outputs: Annotated[
        bool, typer.Option("--list", "-L", help="List the flake's COMPOSITION::FLAVOUR outputs.")
    ] = False,
) -> None:
    """Build a composition for a flavour into build/.

    The result is linked as build/COMPOSITION::FLAVOUR (a GC root), next to Nix's log; the
    path of its manifest is printed on stdout.
    """
    from nxc import build as builder

    flake = open_flake_outputs(flavour, variant, params, show_trace, nix_flags, offline)
    project = flake.project
    if list_outputs:
        for name in flake.names:
            typer.echo(name)
        return
    setup = flake.setup
    if flavour is None and composition_flavour is None:
        flavour, composition_flavour = setup.flavour, setup.composition_flavour
    builder.check_flavour(flavour, "setup.toml [options] flavour")
    chosen_flavour = flavour if flavour or composition_flavour else builder.default_flavour(project)
    composition = setup.composition or builder.default_composition(project)
    output = builder.choose_output(flake.names, chosen_flavour, composition_flavour, composition)
    typer.echo(f"nxc: building {output} (log: {project.build_dir / (output + '.log')})", err=True)
    result = builder.build_output(
        flake.nix,
        project.root,
        project.build_dir,
        output,
        flake.system,
        on_line=lambda line: typer.echo(line, err=True),
        dry_run=dry_run,
    )
    if result.store_path is None:
        typer.echo(f"nxc: dry run of {output}: nothing built", err=True)
        return
    if result.test:
        typer.echo(f"nxc: the NixOS test {output} passed (log: {result.log})", err=True)
        typer.echo(str(result.link))
        return
    typer.echo(f"nxc: built {output}: {result.link} -> {result.store_path}", err=True)
    typer.echo(str(result.manifest))


def register(app: typer.Typer) -> None:
    """Add ``nxc build``."""
    app.command("build")(build)
