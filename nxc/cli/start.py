"""``nxc start``: plan the nodes of a built composition (``--dry-run`` prints the plan).

Options follow NixOS-Compose's ``nxc start``: ``-r/--role`` (also ``--role-distribution``),
a positional roles file, ``-f/--flavour``, ``-c/--composition``, ``-t/--test-script``.
Launching is added by the flavours; until then only ``--dry-run`` does work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nxc.errors import InputError, ManifestError, NxcError

if TYPE_CHECKING:
    from nxc.plan import Plan


def register(app: typer.Typer) -> None:
    """Add the ``start`` command to ``app``."""
    app.command("start")(start)


def start(
    roles_file: Annotated[
        Path | None,
        typer.Argument(
            help="YAML or JSON file mapping each role to a count or a list of hostnames.",
            show_default=False,
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            "-r",
            "--role-distribution",
            metavar="ROLE=N|ROLE=HOST,...",
            help="Nodes of one role: a count or hostnames (repeatable; overrides the file).",
            show_default=False,
        ),
    ] = None,
    flavour: Annotated[
        str | None,
        typer.Option("--flavour", "-f", help="Flavour of the build to start.", show_default=False),
    ] = None,
    composition: Annotated[
        str | None,
        typer.Option(
            "--composition",
            "-c",
            help="Composition to start when the build holds several.",
            show_default=False,
        ),
    ] = None,
    test_script: Annotated[
        bool,
        typer.Option("--test-script", "-t", help="Run the test script once the nodes are up."),
    ] = False,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag", help="Name this deployment (several can run side by side).", show_default=False
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned nodes; start and write nothing.")
    ] = False,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="Build manifest to use instead of the project's latest build.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the nodes of a built composition."""
    if not dry_run:
        raise NxcError(
            "nxc start: launching nodes is not available in this version yet; "
            "add --dry-run to print the plan"
        )
    if manifest is None:
        raise InputError("--dry-run needs --manifest PATH (the build manifest to plan from)")
    plan = _plan(manifest, roles_file, role or [], flavour, composition, tag)
    _print_plan(plan, test_script)


def _plan(
    manifest_path: Path,
    roles_file: Path | None,
    role_options: list[str],
    flavour: str | None,
    composition: str | None,
    tag: str | None,
) -> Plan:
    from nxc import manifest as manifest_module
    from nxc.flavours.names import check_flavour_name
    from nxc.plan import check_tag, plan_nodes
    from nxc.roles import parse_role_options, read_roles_file

    if flavour is not None:
        check_flavour_name(flavour, "-f/--flavour")
    if tag is not None:
        check_tag(tag)
    options = parse_role_options(role_options)
    from_file = read_roles_file(roles_file) if roles_file is not None else {}
    built = manifest_module.load(manifest_path)
    if flavour is not None and flavour != built.flavour:
        raise ManifestError(
            f"{manifest_path}: built for flavour {built.flavour}, not {flavour}; "
            f"build it with 'nxc build -f {flavour}' or drop -f"
        )
    return plan_nodes(built, composition, from_file, options, tag=tag)


def _print_plan(plan: Plan, test_script: bool) -> None:
    hostname_width = max(len("HOSTNAME"), *(len(node.hostname) for node in plan.nodes))
    lines = [
        f"{plan.deployment_name}: {len(plan.nodes)} node(s) (dry run: nothing started or written)",
        f"{'HOSTNAME':<{hostname_width}}  ROLE",
    ]
    lines += [f"{node.hostname:<{hostname_width}}  {node.role}" for node in plan.nodes]
    if test_script:
        lines.append("then: run the composition's test script")
    typer.echo("\n".join(lines))
