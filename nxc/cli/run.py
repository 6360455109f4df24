"""``nxc run``: one command on many nodes at once, each output line prefixed with its host."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from nxc.errors import InputError

REMOTE_COMMAND = "nxc_remote_command"

RoleOption = Annotated[
    list[str] | None,
    typer.Option("--role", "-r", metavar="ROLE", help="Every node of this role (repeatable)."),
]
"""Node selection by role, shared with ``nxc connect``."""
DeploymentNameOption = Annotated[
    str | None,
    typer.Option("--name", help="Deployment (composition::flavour[::tag]); default: latest."),
]
DeploymentTagOption = Annotated[
    str | None, typer.Option("--tag", help="The latest deployment with this tag.")
]


class _CommandAfterDoubleDash(TyperCommand):
    """Keeps what follows the first ``--`` as the remote command, away from option parsing."""

    # Typer's own click copy types ctx as its private Context class; typer.Context is one.
    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if "--" in args:
            split = args.index("--")
            ctx.meta[REMOTE_COMMAND] = args[split + 1 :]
            args = args[:split]
        return super().parse_args(ctx, args)


def run(
    ctx: typer.Context,
    hosts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Nodes to run on (default: all, or those of -r).",
            metavar="HOST",
            show_default=False,
        ),
    ] = None,
    roles: RoleOption = None,
    name: DeploymentNameOption = None,
    tag: DeploymentTagOption = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds each node's command may take.", min=0.001),
    ] = None,
) -> None:
    """Run a command on many nodes at once: nxc run [-r ROLE] -- CMD.

    Nodes are those of -r ROLE and the HOSTs named, or all. Output lines are prefixed with their host; failures are summed up at the end and the exit
    code is 1 if any node failed. CMD words are joined with spaces and run by the node's shell,
    as ssh does.
    """
    words = ctx.meta.get(REMOTE_COMMAND)
    if not words:
        raise InputError("nxc run: give the command after '--', e.g. 'nxc run -r server -- uptime'")
    from nxc.cli.app import settings
    from nxc.flavours import get_flavour
    from nxc.project import find_project
    from nxc.selection import choose_nodes

    store = find_project(settings.envdir).deployments
    deployment, nodes = choose_nodes(store, name, tag, roles or [], hosts or [])
    targets = [node.hostname for node in nodes]
    printer = _PrefixedPrinter(targets)
    with get_flavour(deployment.flavour).transport(deployment, store) as transport:
        result = transport.run(" ".join(words), targets, timeout=timeout, on_output=printer)
    for host_result in result.failed:
        if host_result.error is not None:
            printer(host_result.host, "stderr", f"nxc: {host_result.error}")
    if not result.ok:
        typer.echo(f"nxc: {result.summary()}", err=True)
        raise typer.Exit(1)
    if settings.verbose:
        typer.echo(f"nxc: {result.summary()}", err=True)


class _PrefixedPrinter:
    """Prints ``host | line``, hosts aligned; safe to call from the transport's thread."""

    def __init__(self, hosts: list[str]) -> None:
        import threading

        self.width = max((len(host) for host in hosts), default=0)
        self.lock = threading.Lock()

    def __call__(self, host: str, stream: str, line: str) -> None:
        with self.lock:
            typer.echo(f"{host.ljust(self.width)} | {line}", err=stream == "stderr")


def register(app: typer.Typer) -> None:
    """Add ``nxc run`` to the application."""
    settings: dict[str, Any] = {"allow_interspersed_args": True}
    app.command("run", cls=_CommandAfterDoubleDash, context_settings=settings)(run)
