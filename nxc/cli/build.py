"""``nxc build``: build a composition for a flavour into ``build/<composition>::<flavour>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from nxc.nix_cli import NixCommand
    from nxc.project import Project

PLATFORM_DEFAULT_FLAVOURS = {"grid5000": "g5k-ramdisk", "g5k": "g5k-ramdisk"}
DEFAULT_FLAVOUR = "vm"


def default_flavour(project: Project) -> str:
    """``default_flavour`` of nxc.json, else the platform's default, else ``vm``."""
    if project.default_flavour is not None:
        return project.default_flavour
    platform = (project.config.platform or "").lower()
    return PLATFORM_DEFAULT_FLAVOURS.get(platform, DEFAULT_FLAVOUR)


def default_composition(project: Project) -> str | None:
    """The composition named by nxc.json (``composition.nix`` -> ``composition``)."""
    from pathlib import PurePath

    name = project.config.composition
    return PurePath(name).stem if name else None


def open_nix(
    show_trace: bool, nix_flags: str | None, offline: bool, env: dict[str, str] | None = None
) -> NixCommand:
    """Find Nix and set the flags every call of this command gets."""
    import shlex

    from nxc.nix_cli import NixCommand

    nix = NixCommand.find(
        show_trace=show_trace,
        extra_flags=shlex.split(nix_flags or ""),
        offline=True if offline else None,
    )
    nix.env_overrides = dict(env or {})
    from nxc.cli.app import settings

    if settings.debug:
        nix.on_command = lambda argv: typer.echo(f"nxc: running {shlex.join(argv)}", err=True)
    return nix


def build(
    flavour: Annotated[
        str | None, typer.Option("--flavour", "-f", help="Flavour (default: nxc.json, else vm).")
    ] = None,
    composition_flavour: Annotated[
        str | None,
        typer.Option("--composition-flavour", "-C", help="Output to build: COMPOSITION::FLAVOUR."),
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
        str | None, typer.Option("--nix-flags", help="Extra flags for Nix, e.g. '--cores 4'.")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="No binary caches (also: NXC_NIX_OFFLINE=1).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what Nix would build; build nothing.")
    ] = False,
    list_outputs: Annotated[
        bool, typer.Option("--list", "-L", help="List the flake's COMPOSITION::FLAVOUR outputs.")
    ] = False,
) -> None:
    """Build a composition for a flavour; the result is linked under build/ as a GC root."""
    from nxc import build as builder
    from nxc.cli.app import settings
    from nxc.project import find_project

    project = find_project(settings.envdir)
    builder.check_flavour(flavour, "-f/--flavour")
    env = builder.setup_overrides(variant, list(params or []))
    nix = open_nix(show_trace, nix_flags, offline, env)
    system = builder.nix_system()
    outputs = builder.list_outputs(nix, project.root, system)
    if list_outputs:
        for name in outputs:
            typer.echo(name)
        return
    chosen_flavour = flavour if flavour or composition_flavour else default_flavour(project)
    output = builder.choose_output(
        outputs, chosen_flavour, composition_flavour, default_composition(project)
    )
    typer.echo(f"nxc: building {output} (log: {project.build_dir / (output + '.log')})", err=True)
    result = builder.build_output(
        nix,
        project.root,
        project.build_dir,
        output,
        system,
        on_line=lambda line: typer.echo(line, err=True),
        dry_run=dry_run,
    )
    if result.store_path is None:
        typer.echo(f"nxc: dry run of {output}: nothing built", err=True)
        return
    typer.echo(f"nxc: built {output}: {result.link} -> {result.store_path}", err=True)
    typer.echo(str(result.manifest))


def register(app: typer.Typer) -> None:
    """Add ``nxc build``."""
    app.command("build")(build)
