"""The Python API for experiment scripts and execo engines: open a running deployment, pick
nodes by role, run commands on groups of them.

    import nxc

    with nxc.open_deployment() as env:          # the project's latest deployment
        env.run("uptime", roles=["server"]).check()
        for node in env.nodes("client"):
            print(node.hostname, node.address)

The same deployment can be driven with execo: :meth:`Environment.execo_hosts` and
:meth:`Environment.execo_connection_params` give what ``execo.Remote`` needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.driver.driver import ScriptOutcome
    from nxc.fanout import GroupResult
    from nxc.flavours.base import ProgressHook
    from nxc.resize import Resize
    from nxc.transport.base import Transport


class Environment:
    """A running deployment seen from Python; close it (or use ``with``) when done."""

    def __init__(self, deployment: Deployment, store: DeploymentStore) -> None:
        self.deployment = deployment
        self.store = store
        self._transport: Transport | None = None

    @property
    def name(self) -> str:
        """The deployment's name, ``composition::flavour[::tag]``."""
        return self.deployment.name

    def nodes(self, *roles: str) -> list[Node]:
        """The nodes of ``roles`` (all nodes when none is given), in deployment order."""
        from nxc.fanout import select_nodes

        return select_nodes(self.deployment.nodes, list(roles), [])

    def hostnames(self, *roles: str) -> list[str]:
        """Hostnames of the nodes of ``roles`` (all when none is given)."""
        return [node.hostname for node in self.nodes(*roles)]

    @property
    def transport(self) -> Transport:
        """The flavour's transport to the nodes, opened on first use."""
        if self._transport is None:
            from nxc.flavours import get_flavour

            flavour = get_flavour(self.deployment.flavour)
            self._transport = flavour.transport(self.deployment, self.store)
        return self._transport

    def run(
        self,
        command: str | Sequence[str],
        *,
        roles: Sequence[str] = (),
        hosts: Sequence[str] = (),
        timeout: float | None = None,
    ) -> GroupResult:
        """Run ``command`` at once on the nodes of ``roles`` and ``hosts`` (default: all).

        The result has one entry per host and never raises for failed hosts: call ``.check()``.
        """
        from nxc.fanout import select_nodes

        targets = [n.hostname for n in select_nodes(self.deployment.nodes, roles, hosts)]
        return self.transport.run(command, targets, timeout=timeout)

    def put(
        self,
        local: Path | str,
        remote: str,
        *,
        roles: Sequence[str] = (),
        hosts: Sequence[str] = (),
        timeout: float | None = None,
    ) -> GroupResult:
        """Copy the file or folder ``local`` to ``remote`` on the selected nodes."""
        from nxc.fanout import select_nodes

        targets = [n.hostname for n in select_nodes(self.deployment.nodes, roles, hosts)]
        return self.transport.put(Path(local), remote, targets, timeout=timeout)

    def execo_hosts(self, *roles: str) -> list[Any]:
        """``execo.Host`` objects for the nodes of ``roles`` (all when none is given)."""
        from execo.host import Host

        return [Host(n.ssh_host, user="root", port=n.ssh_port) for n in self.nodes(*roles)]

    def execo_connection_params(self) -> dict[str, Any]:
        """``connection_params`` for execo that use the deployment's key and pinned host keys."""
        from nxc.keys import pinned_ssh_options, write_known_hosts

        known_hosts = self.store.known_hosts_path(self.name)
        if not known_hosts.exists():
            write_known_hosts(known_hosts, self.deployment.nodes)
        return {
            "user": "root",
            "keyfile": str(self.store.client_key_path(self.name)),
            "ssh_options": (
                *pinned_ssh_options(known_hosts),
                "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=20",
            ),
        }  # fmt: skip

    def repair(self) -> list[str]:
        """Relaunch the deployment's dead nodes, keeping the others (``nxc start --repair``);
        the hostnames relaunched, each ready again when this returns."""
        from nxc.deploy import repair_deployment

        repaired = repair_deployment(self.store, self.name)
        if repaired:
            self.close()  # connections to the relaunched nodes are gone: open them anew
            self.deployment = self.store.load(self.name)
        return repaired

    def add_nodes(self, role: str, count: int = 1, timeout: float | None = None) -> Resize:
        """Add ``count`` nodes of ``role`` (``nxc start --add -r ROLE=COUNT``), numbered after
        the existing ones; returns once they are ready and every other node lists them (what
        was added, each phase's seconds). ``timeout``: how long they may take to be ready."""
        from nxc.flavours import get_flavour
        from nxc.resize import add_nodes
        from nxc.roles import parse_role_option

        quantity = parse_role_option(f"{role}={count}")
        options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        flavour = get_flavour(self.deployment.flavour, **options)
        change = add_nodes(self.store, self.name, {role: quantity}, flavour=flavour)
        self._reload()
        return change

    def remove_nodes(self, hostnames: Iterable[str]) -> Resize:
        """Stop the nodes ``hostnames`` (``nxc stop --node``), keeping the others, which are
        told; what was removed, each phase's seconds."""
        from nxc.resize import remove_nodes

        change = remove_nodes(self.store, self.name, list(hostnames))
        self._reload()
        return change

    def _reload(self) -> None:
        """Read the record again; connections open anew to the nodes it lists now."""
        self.close()
        self.deployment = self.store.load(self.name)

    def run_test_script(
        self,
        script: Path | str | None = None,
        *,
        junit_xml: Path | str | None = None,
        boot_timeout: float | None = None,
        verbose: bool = False,
    ) -> ScriptOutcome:
        """Run a test script on the nodes as ``nxc driver -t`` does (``nxc start -t`` once
        started): the file ``script``, else the composition's ``testScript``. Returns its
        outcome (``.passed``); ``junit_xml`` writes a JUnit report; a node's waits last
        ``boot_timeout`` seconds (the driver's default otherwise)."""
        from nxc.driver.session import (
            DEFAULT_BOOT_TIMEOUT,
            run_session,
            script_from_file,
            script_from_manifest,
        )

        chosen = (
            script_from_file(Path(script))
            if script is not None
            else script_from_manifest(self.deployment)
        )
        outcome = run_session(
            self.deployment,
            self.store,
            chosen,
            junit_xml=None if junit_xml is None else Path(junit_xml),
            boot_timeout=boot_timeout or DEFAULT_BOOT_TIMEOUT,
            verbose=verbose,
        )
        assert outcome is not None  # a script, not the REPL, was run
        return outcome

    def stop(self, force: bool = False) -> None:
        """Stop the deployment (``nxc stop``) and close the connections."""
        from nxc.deploy import stop_deployment

        self.close()
        self.deployment = stop_deployment(self.store, self.name, force=force)

    def close(self) -> None:
        """Close the connections to the nodes (idempotent)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_deployment(
    name: str | None = None, *, tag: str | None = None, project: Path | str | None = None
) -> Environment:
    """Open a recorded deployment of the project found at (or above) ``project`` or the
    current folder: the one named, else the latest with ``tag``, else the latest."""
    from nxc.project import find_project
    from nxc.selection import choose_deployment

    store = find_project(Path(project) if project is not None else None).deployments
    deployment = choose_deployment(store, name, tag)
    return Environment(deployment, store)


def start(
    roles: Mapping[str, int] | None = None,
    *,
    flavour: str | None = None,
    composition: str | None = None,
    tag: str | None = None,
    parameters: Mapping[str, str] | None = None,
    min_nodes: int | str | None = None,
    project: Path | str | None = None,
    progress: ProgressHook | None = None,
    **options: Any,
) -> Environment:
    """Start the latest build of ``flavour`` (default: the project's) as ``nxc start`` does,
    and return the running deployment.

    ``roles`` gives node counts per role (the composition's defaults otherwise), ``tag`` names a
    deployment beside others, ``parameters`` reach every node's deployment info,
    ``min_nodes`` (a count or a fraction such as ``"90%"``) lets it go on without nodes that
    did not come up; ``options`` are the flavour's own (``memory="2G"``, ``timeout=600``,
    ``hosts=HostSource(...)``...). The deployment keeps running until :meth:`Environment.stop`.
    """
    from nxc.build import check_deployable
    from nxc.deploy import built_manifest, start_deployment
    from nxc.flavours import get_flavour
    from nxc.flavours.base import no_progress
    from nxc.manifest import load
    from nxc.plan import plan_nodes
    from nxc.project import find_project
    from nxc.roles import parse_role_options

    found = find_project(Path(project) if project is not None else None)
    chosen = flavour or found.default_flavour
    check_deployable(chosen)
    manifest = load(built_manifest(found.build_dir, chosen, composition))
    quantities = parse_role_options([f"{role}={count}" for role, count in (roles or {}).items()])
    plan = plan_nodes(
        manifest,
        composition,
        quantities,
        tag=tag,
        parameters=parameters,
        min_nodes=None if min_nodes is None else str(min_nodes),
    )
    store = found.deployments
    deployment = start_deployment(
        store, manifest, plan, get_flavour(plan.flavour, **options), progress or no_progress
    )
    return Environment(deployment, store)
