"""``nxc helper``: the contextual helpers of NixOS-Compose that its users' scripts call.

``g5k_script`` prints the path of an OAR job script that gives root access to the job's nodes;
``ip``, ``ip_ssh_port`` and ``fqdn`` name a node of the current deployment. The helpers that
download things (``install-nix``, ``g5k-get-seed-store``) are refused with what to do instead.
"""

from __future__ import annotations

from typing import Annotated

import typer

from nxc.errors import InputError

HELPERS = {
    "g5k_script": "path of an OAR job script authorising your key for root on the job's nodes",
    "ip HOST": "the node's address (what the nodes' /etc/hosts says)",
    "ip_ssh_port HOST": "where nxc reaches the node's SSH server, as ADDRESS:PORT",
    "fqdn HOST": "the fully qualified name of that SSH address",
}
_DOWNLOADING = {
    "install-nix": "install Nix with your distribution's package (Debian: nix-bin) or Nix's "
    "own installer, then run nxc again",
    "g5k-get-seed-store": "nxc needs no seed store: build on the frontend with Nix installed "
    "(see docs/grid5000.md)",
}


def helper(
    words: Annotated[
        list[str] | None, typer.Argument(help="HELPER [HOST]", metavar="HELPER [HOST]")
    ] = None,
    list_helpers: Annotated[bool, typer.Option("--list", "-l", help="List the helpers.")] = False,
) -> None:
    """NixOS-Compose's helpers: g5k_script, ip HOST, ip_ssh_port HOST, fqdn HOST (see --list)."""
    if list_helpers or not words:
        for usage, description in HELPERS.items():
            typer.echo(f"{usage:20} {description}")
        return
    name, *rest = words
    name = name.replace("-", "_") if name == "g5k-script" else name
    if name in _DOWNLOADING:
        raise InputError(f"nxc helper {name}: nxc does not download this; {_DOWNLOADING[name]}")
    if name == "g5k_script":
        from nxc.platforms.jobscript import g5k_root_key_job_script

        typer.echo(str(g5k_root_key_job_script()))
        return
    if name not in ("ip", "ip_ssh_port", "fqdn"):
        raise InputError(f"nxc helper {name}: no such helper; see 'nxc helper --list'")
    if len(rest) != 1:
        raise InputError(
            f"nxc helper {name}: give one node's hostname, e.g. 'nxc helper {name} server'"
        )
    from nxc.cli.app import settings
    from nxc.project import find_project
    from nxc.selection import choose_nodes

    _deployment, nodes = choose_nodes(find_project(settings.envdir).deployments, hosts=rest)
    node = nodes[0]
    if name == "ip":
        typer.echo(node.address)
    elif name == "ip_ssh_port":
        typer.echo(f"{node.ssh_host}:{node.ssh_port}")
    else:
        import socket

        typer.echo(socket.getfqdn(node.ssh_host))


def register(app: typer.Typer) -> None:
    """Add ``nxc helper``."""
    app.command("helper")(helper)
