"""``nxc connect``: a shell on one node, or tmux with one pane per node.

``-l/--user`` logs in as another user than root (NixOS-Compose's ``nxc connect -l``): the
deployment's key is authorized for every user of the nodes (``/run/nxc/authorized_keys``).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from nxc.cli.run import DeploymentNameOption, DeploymentTagOption, RoleOption
from nxc.errors import InputError
from nxc.transport.sshconfig import check_user_name


def connect(
    hosts: Annotated[
        list[str] | None,
        typer.Argument(help="Nodes to open (default: all, or those of -r).", metavar="HOST"),
    ] = None,
    roles: RoleOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
    geometry: Annotated[
        str,
        typer.Option(
            "--geometry",
            "-g",
            help="Panes per window as COLUMNSxROWS; more nodes get more windows.",
        ),
    ] = "2x4",
    sync: Annotated[
        bool, typer.Option("--sync", help="Type into all panes of a window at once.")
    ] = False,
    send: Annotated[
        str | None, typer.Option("--send", help="Type this command line into every pane once.")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="tmux session name (default: nxc-<deployment>).")
    ] = None,
    attach: Annotated[
        bool, typer.Option("--attach/--no-attach", help="Attach to the tmux session once made.")
    ] = True,
    user: Annotated[
        str,
        typer.Option("--user", "-l", help="Log in as this user (nodes reached over SSH)."),
    ] = "root",
) -> None:
    """Open a shell on a node, or a tmux session with one pane per node.

    With one node the shell opens in this terminal. Nodes beyond one window's grid go to further windows: none is ever left out.
    """
    from nxc.cli.app import settings
    from nxc.connect import (
        PaneTarget,
        open_session,
        parse_geometry,
        session_name_for,
        tmux_server,
    )
    from nxc.flavours import get_flavour
    from nxc.project import find_project
    from nxc.selection import choose_nodes

    grid = parse_geometry(geometry)
    check_user_name(user, "-l/--user")
    store = find_project(settings.envdir).deployments
    deployment, nodes = choose_nodes(store, name, tag, roles or [], hosts or [])
    with get_flavour(deployment.flavour).transport(deployment, store) as transport:
        if user != "root":
            _log_in_as(transport, user, deployment.flavour)
        targets = [PaneTarget(n.hostname, transport.interactive_argv(n.hostname)) for n in nodes]
    if len(targets) == 1 and send is None:
        os.execvp(targets[0].argv[0], targets[0].argv)
    session_name = session or session_name_for(deployment.name)
    server = tmux_server()
    open_session(server, session_name, targets, grid=grid, synchronize=sync, send=send)
    if not attach:
        typer.echo(
            f"tmux session {session_name}: {len(targets)} node(s); attach with 'tmux attach -t {session_name}'"
        )
        return
    if os.environ.get("TMUX"):
        server.cmd("switch-client", "-t", session_name)
        return
    os.execvp("tmux", ["tmux", "attach-session", "-t", session_name])


def _log_in_as(transport: object, user: str, flavour: str) -> None:
    """Make an SSH transport's sessions log in as ``user``; refuse other transports."""
    from nxc.transport.ssh import SshTransport

    if not isinstance(transport, SshTransport):
        raise InputError(
            f"-l/--user {user}: the {flavour} flavour opens root shells without SSH; drop -l"
        )
    transport.user = user


def register(app: typer.Typer) -> None:
    """Add ``nxc connect`` to the application."""
    app.command()(connect)
