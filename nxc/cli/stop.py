"""``nxc stop``: undo everything a deployment record lists (processes, sockets, secrets).

``-d/--deployment-file deploy/<name>.json`` names the deployment by its record, as
NixOS-Compose's ``nxc stop -d`` names its deployment file; ``-f/--flavour`` picks the latest
deployment of a flavour, as its ``nxc stop -f`` does (``--force`` has no short form).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nxc.errors import InputError

if TYPE_CHECKING:
    from nxc.deployment import DeploymentStore


def stop(
    name: Annotated[
        str | None,
        typer.Argument(help="The deployment (composition::flavour[::tag]); default: the latest."),
    ] = None,
    flavour: Annotated[
        str | None,
        typer.Option(
            "--flavour",
            "-f",
            help="The latest deployment of this flavour (NixOS-Compose's stop -f).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Do not wait for a running 'nxc start' nor for nodes to shut down cleanly.",
        ),
    ] = False,
    deployment_file: Annotated[
        Path | None,
        typer.Option(
            "--deployment-file",
            "-d",
            metavar="FILE",
            help="The deployment by its record, deploy/NAME.json (NixOS-Compose's -d).",
            show_default=False,
        ),
    ] = None,
    node: Annotated[
        list[str] | None,
        typer.Option(
            "--node",
            metavar="HOST",
            help="Stop only this node, keeping the others running (they are told); repeat.",
            show_default=False,
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="Stop only the nodes of this role, keeping the others running; repeat.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Stop a deployment and undo all it started; safe to repeat. With --node/--role, stop
    only those nodes of a running deployment."""
    from nxc.cli.app import settings
    from nxc.deploy import stop_deployment
    from nxc.project import find_project

    store = find_project(settings.envdir).deployments
    given = [f"the deployment {name}"] if name is not None else []
    given += [f"-d {deployment_file}"] if deployment_file is not None else []
    given += [f"-f {flavour}"] if flavour is not None else []
    if len(given) > 1:
        raise InputError(f"give {' or '.join(given)}, not several: each names a deployment")
    if deployment_file is not None:
        name = record_name(store, deployment_file)
    if flavour is not None:
        from nxc.flavours.names import check_flavour_name

        name = store.latest(flavour=check_flavour_name(flavour, "-f/--flavour")).name
    if node or role:
        if force:
            raise InputError("--force stops a whole deployment: drop it, or --node/--role")
        _remove(store, name, node or [], role or [])
        return
    deployment = stop_deployment(store, name, force=force)
    typer.echo(f"stopped {deployment.name} ({len(deployment.nodes)} node(s))")


def _remove(store: DeploymentStore, name: str | None, hosts: list[str], roles: list[str]) -> None:
    """``nxc stop --node/--role``: stop those nodes, tell the others."""
    from nxc.resize import remove_nodes

    deployment = store.load(name) if name else store.latest()
    by_role = deployment.roles()
    unknown = [r for r in roles if r not in by_role]
    if unknown:
        raise InputError(
            f"--role {', '.join(unknown)}: no such role among the nodes of {deployment.name} "
            f"({', '.join(by_role) or 'none'})"
        )
    wanted = [*hosts, *(h for r in roles for h in by_role[r])]
    change = remove_nodes(store, deployment.name, wanted)
    typer.echo(f"{deployment.name}: stopped {', '.join(change.removed)}")
    announced = change.announcement
    if announced.told:
        typer.echo(f"told {len(announced.told)} node(s) in {announced.seconds:.1f} s")
    for hostname, why in announced.failed.items():
        typer.echo(f"warning: {hostname} still lists the removed nodes: {why}", err=True)


def record_name(store: DeploymentStore, path: Path) -> str:
    """The deployment whose record is ``path`` (``deploy/<name>.json`` of this project)."""
    from nxc.deployment import RECORD_SUFFIX, parse_name

    folder = store.deploy_dir.resolve()
    where = path.absolute().parent.resolve()
    if where != folder or not path.name.endswith(RECORD_SUFFIX):
        raise InputError(
            f"-d {path}: not a deployment record of this project; give "
            f"{folder}/<composition>::<flavour>.json (see 'nxc status')"
        )
    name = path.name.removesuffix(RECORD_SUFFIX)
    parse_name(name)
    return name


def register(app: typer.Typer) -> None:
    """Add ``nxc stop`` to the application."""
    app.command("stop")(stop)
