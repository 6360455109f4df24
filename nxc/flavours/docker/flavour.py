"""The ``docker`` flavour: every node is a container on a Docker engine.

Per deployment: one bridge network named ``nxc-<deployment>`` on a ``10.S.0.0/16`` subnet, and
one container per node named ``nxc-<deployment>-<hostname>`` (see
:mod:`nxc.flavours.docker.containers` for what a container gets). Everything is created
through the engine's API, labelled with the deployment, the node, its role and a marker unique
to this start; the record holds the engine, the marker and every id as soon as it exists
(:mod:`nxc.flavours.docker.record`), so ``stop`` removes exactly those containers, networks
and volumes, also after ``nxc start`` was killed half-way (what carries the recorded marker is
found by label). Its options are :class:`~nxc.flavours.docker.options.DockerOptions`.

A node is ready when its SSH server answers on its address with the pinned host key (engines
on this machine: their bridges are routed here), or, on a remote engine, when its log shows the
readiness line ``nxc-ready <hostname>``. Commands reach containers through ``docker exec``
(:mod:`nxc.transport.docker`). The deployment's ``docker-compose.yml`` is written next to the
record (:mod:`nxc.flavours.docker.compose_file`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from nxc import netalloc
from nxc.atomic import write_atomic
from nxc.deployment import CORRUPT_RECORD_HINT, DeploymentState, NodeState
from nxc.deployment_info import InfoExtras
from nxc.errors import (
    DeploymentRecordError,
    ExternalCommandError,
    InputError,
    ManifestError,
    UnsafeRecordError,
)
from nxc.flavours.base import Flavour, LiveState, Stage, StartRun
from nxc.flavours.common import processes
from nxc.flavours.common.readiness import Readiness, probe_all, ssh_readiness
from nxc.flavours.common.sshready import SshAnswer, ssh_answer
from nxc.flavours.docker import containers
from nxc.flavours.docker.compose_file import drop_services, write_compose_file
from nxc.flavours.docker.engine import (
    LABEL_DEPLOYMENT,
    LABEL_MARKER,
    api_errors,
    connect,
    engine_url,
    is_local,
    labels_filter,
)
from nxc.flavours.docker.options import DockerOptions
from nxc.flavours.docker.publish import check_host_ports
from nxc.flavours.docker.record import (
    DockerNetwork,
    DockerNodeFacts,
    DockerResources,
    SubnetInUse,
)
from nxc.record_section import node_facts_of, resources_of
from nxc.roles import is_hostname

if TYPE_CHECKING:
    from collections.abc import Callable

    import docker

    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.manifest import Manifest
    from nxc.netalloc import NodeAddress

POLL_INTERVAL = 0.3
LOG_TAIL_LINES = 15
SHUTDOWN_TIMEOUT = 30
SETTLE_TIME = 5.0
COMPOSE_FILE = "docker-compose.yml"

T = TypeVar("T")


class DockerFlavour(Flavour):
    """Containers on a Docker engine (see the module documentation)."""

    name: ClassVar[str] = "docker"
    options_type = DockerOptions
    options: DockerOptions

    def __init__(self, options: DockerOptions | None = None) -> None:
        super().__init__(options)
        self._since = 0.0  # the engine's log lines before this are an earlier boot's
        self._roles: dict[str, containers.RoleContainer] = {}

    def check_request(self, manifest: Manifest, composition: str, hostnames: list[str]) -> None:
        """A docker manifest describing a container for every role; nodes that fit a subnet."""
        containers.role_containers(manifest, composition)
        if len(hostnames) >= netalloc.NODES_PER_SUBNET:
            raise InputError(
                f"{len(hostnames)} nodes do not fit one docker network (at most "
                f"{netalloc.NODES_PER_SUBNET - 1}); start fewer nodes"
            )

    def ready_timeout(self, nodes: int) -> float:
        """How long start waits for every node: ``timeout``, else 60 s + 5 s per node."""
        timeout = self.options.timeout
        return timeout if timeout is not None else 60.0 + 5.0 * nodes

    # --- start ---------------------------------------------------------------------------

    def allocate(self, run: StartRun) -> None:
        """The engine (its images and free names checked), a marker, a subnet no other
        network of the engine uses, the folders; each node's address and container name."""
        deployment, store = run.deployment, run.store
        roles = containers.role_containers(run.manifest, deployment.composition)
        check_host_ports({node.hostname: roles[node.role].ports for node in deployment.nodes})
        url = engine_url(self.options.engine)
        self._api = api = connect(url)
        _check_images(api, roles, run.manifest.source)
        _check_names(api, deployment)
        self._roles = roles
        name = deployment.name
        state_dir = store.state_dir(name).absolute()
        subnet = netalloc.choose_subnet(name, _taken_subnets(api, store, name, url))
        resources = DockerResources(
            engine=url,
            marker=processes.new_marker(),
            subnet=subnet,
            network=DockerNetwork(name=containers.network_name(name)),
            secret_dir=store.secret_dir(name) / "nodes",
            shared_dir=state_dir / "shared",
            compose_file=state_dir / COMPOSE_FILE,
            log_dir=store.log_dir(name).absolute(),
        )
        deployment.resources = resources.to_record()
        addresses = netalloc.node_addresses(subnet, len(deployment.nodes))
        for node, allocated in zip(deployment.nodes, addresses, strict=True):
            _place(deployment, node, allocated)

    def allocate_added(self, run: StartRun) -> None:
        """The deployment's engine (images and the added nodes' names checked), free addresses
        of its network for the added nodes."""
        deployment = run.deployment
        added = run.launching
        roles = containers.role_containers(run.manifest, deployment.composition)
        check_host_ports({node.hostname: roles[node.role].ports for node in added})
        resources = resources_of(DockerResources, deployment)
        self._api = api = connect(self._engine(resources))
        _check_images(api, roles, run.manifest.source)
        _check_names(api, deployment, added)
        self._roles = roles
        kept = deployment.nodes + deployment.failed_nodes
        used = {node.address for node in kept if node.address}
        total = len(used) + len(added)
        addresses = netalloc.node_addresses(
            _recorded(deployment, "subnet", resources.subnet), total
        )
        free = [a for a in addresses if a.address not in used]
        for node, allocated in zip(added, free, strict=False):
            _place(deployment, node, allocated)

    def deployment_info(
        self, deployment: Deployment, store: DeploymentStore, manifest: Manifest
    ) -> dict[str, Any]:
        """As every flavour's, the roles' containers read from ``manifest`` when this flavour
        did not allocate (the info of a deployment whose nodes were removed)."""
        if not self._roles:
            self._roles = containers.role_containers(manifest, deployment.composition)
        return super().deployment_info(deployment, store, manifest)

    def info_extras(self, deployment: Deployment) -> InfoExtras:
        """``/tmp/shared`` is already bind-mounted; each role's system is its container's;
        the info is bound read-only from a 0600 file (it may hold the root key)."""
        return InfoExtras(
            netalloc.PREFIX_LENGTH,
            {"type": "bind", "path": containers.SHARED_PATH},
            systems={role: rc.system for role, rc in self._roles.items() if rc.system},
        )

    def prepare(self, run: StartRun) -> None:
        """The private and shared folders, the info and host keys as 0600 files, each node's
        container description and the compose file."""
        deployment = run.deployment
        resources = resources_of(DockerResources, deployment)
        secret_dir = _recorded(deployment, "secret_dir", resources.secret_dir)
        secret_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        shared_dir = _recorded(deployment, "shared_dir", resources.shared_dir)
        shared_dir.mkdir(exist_ok=True)
        info_file = secret_dir / "info.json"
        write_atomic(info_file, json.dumps(run.info), mode=0o600)
        self._specs = {}
        for node in run.launching:
            key_file = secret_dir / f"{node.hostname}.host_key"
            write_atomic(key_file, run.host_keys[node.hostname], mode=0o600)
        for node in deployment.nodes:
            key_file = secret_dir / f"{node.hostname}.host_key"
            self._specs[node.hostname] = containers.node_container(
                deployment.name,
                _recorded(deployment, "marker", resources.marker),
                node.hostname,
                node.role,
                node.address,
                self._roles[node.role],
                info_file,
                key_file,
                shared_dir,
            )
        network, gateway = _network_of(_recorded(deployment, "subnet", resources.subnet))
        compose_file = _recorded(deployment, "compose_file", resources.compose_file)
        specs = list(self._specs.values())
        write_compose_file(compose_file, deployment.name, specs, network, gateway)

    def launch(self, run: StartRun, nodes: list[Node]) -> dict[str, str]:
        """The network (once), then each node's container, created and started."""
        deployment, store, api = run.deployment, run.store, self._api
        if any(rc.image == containers.BASE_IMAGE for rc in self._roles.values()):
            containers.ensure_base_image(api)
        resources = resources_of(DockerResources, deployment)
        network_id = resources.network.id or self._create_network(api, deployment, resources, store)
        started: list[tuple[Node, DockerNodeFacts]] = []
        for node in nodes:
            facts = node_facts_of(DockerNodeFacts, deployment, node)
            container_id = containers.create_container(api, self._specs[node.hostname], network_id)
            facts.container_id = resources.containers[node.hostname] = container_id
            node.extra, deployment.resources = facts.to_record(), resources.to_record()
            store.save(deployment)
            started.append((node, facts))
        self._since = time.time() - 1
        for node, facts in started:
            with api_errors(f"start container {facts.container_name}"):
                api.start(facts.container_id)
            node.state = NodeState.launching
            run.progress(node.hostname, Stage.LAUNCHED)
        return {}

    @staticmethod
    def _create_network(
        api: docker.APIClient,
        deployment: Deployment,
        resources: DockerResources,
        store: DeploymentStore,
    ) -> str:
        """The deployment's network, created, its id recorded in ``resources`` and saved."""
        import docker

        network, gateway = _network_of(_recorded(deployment, "subnet", resources.subnet))
        ipam = docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet=network, gateway=gateway)]
        )
        name = _recorded(deployment, "network.name", resources.network.name)
        marker = _recorded(deployment, "marker", resources.marker)
        with api_errors(f"create network {name} ({network})"):
            created = api.create_network(
                name,
                driver="bridge",
                ipam=ipam,
                check_duplicate=True,
                labels={LABEL_DEPLOYMENT: deployment.name, LABEL_MARKER: marker},
            )
        resources.network.id = network_id = str(created["Id"])
        deployment.resources = resources.to_record()
        store.save(deployment)
        return network_id

    async def readiness(
        self, deployment: Deployment, node: Node, booted: bool, remaining: float
    ) -> Readiness:
        """Failed if its container stopped; booted once its log has the readiness line; ready
        when SSH answers with the pinned key (a remote engine: when booted)."""
        api = self._api
        facts = node_facts_of(DockerNodeFacts, deployment, node)
        details = await asyncio.to_thread(_inspect, api, facts.container_id)
        if not details or not details["State"].get("Running"):
            code = details["State"].get("ExitCode") if details else "gone"
            raise ExternalCommandError(
                f"container {facts.container_name} of {node.hostname} stopped "
                f"(exit code {code}) before the node was ready; its last log lines:\n"
                f"{_tail(api, facts.container_id)}"
            )
        booted = booted or await asyncio.to_thread(
            _has_ready_line, api, node.hostname, facts.container_id, self._since
        )
        if not is_local(self._engine(resources_of(DockerResources, deployment))):
            return Readiness.READY if booted else Readiness.WAITING
        return await ssh_readiness(node, booted, min(3.0, remaining))

    def after_ready(self, deployment: Deployment, store: DeploymentStore) -> None:
        """Every container's log copied into the deployment's log folder."""
        _refresh_logs(self._api, deployment, store)

    def node_details(self, deployment: Deployment, hostname: str) -> str:
        """The container's name and its last log lines."""
        facts = node_facts_of(DockerNodeFacts, deployment, deployment.node(hostname))
        return f"last log lines of {facts.container_name}:\n{_tail(self._api, facts.container_id)}"

    def not_ready_hint(self, deployment: Deployment) -> str:
        """Where the whole logs are."""
        return (
            "full logs: 'docker logs CONTAINER' (saved under the deployment's logs/ folder by "
            "'nxc stop')"
        )

    # --- stop ----------------------------------------------------------------------------

    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        """Remove the recorded containers, networks and volumes (and what carries the marker)."""
        resources = resources_of(DockerResources, deployment)
        recorded = list(resources.containers.values())
        network_id = resources.network.id
        if resources.marker or recorded or network_id:
            marker = processes.check_marker(resources.marker, str(store.path_for(deployment.name)))
            api = connect(self._engine(resources))
            _check_recorded(api, deployment, store, marker, recorded, network_id)
            log_dir = store.log_dir(deployment.name)
            hostnames = _hostnames_by_container(deployment, deployment.nodes)

            def save_log(container_id: str) -> None:
                if container_id in hostnames:  # once stopped: the log ends with the shutdown
                    _save_log(api, hostnames[container_id], container_id, log_dir)

            interrupted = len(hostnames) < len(deployment.nodes)  # a node has no container
            _remove_containers(api, marker, recorded, force, settle=interrupted, stopped=save_log)
            with api_errors("list the deployment's networks and volumes"):
                networks = api.networks(filters=_f(marker))
                volumes = (api.volumes(filters=_f(marker)) or {}).get("Volumes") or []
            for network in _with_marked([network_id] if network_id else [], networks):
                _ignore_missing(api.remove_network, network, f"remove network {network}")
            for volume in _with_marked(resources.volumes, volumes, key="Name"):
                _ignore_missing(api.remove_volume, volume, f"remove volume {volume}")
        for node in deployment.nodes:
            node.state = NodeState.stopped
        deployment.state = DeploymentState.stopped
        store.save(deployment)

    def remove_nodes(
        self, deployment: Deployment, store: DeploymentStore, nodes: list[Node]
    ) -> None:
        """Remove the containers of ``nodes`` (their logs saved first), checked to be this
        deployment's; the network and the other containers stay."""
        resources = resources_of(DockerResources, deployment)
        marker = processes.check_marker(resources.marker, str(store.path_for(deployment.name)))
        api = connect(self._engine(resources))
        hostnames = _hostnames_by_container(deployment, nodes)
        _check_recorded(api, deployment, store, marker, list(hostnames), None)
        log_dir = store.log_dir(deployment.name)
        for container_id in hostnames:
            _remove_container(
                api,
                container_id,
                SHUTDOWN_TIMEOUT,
                lambda c: _save_log(api, hostnames[c], c, log_dir),
            )
        for node in nodes:
            resources.containers.pop(node.hostname, None)
            if is_hostname(node.hostname):
                secret_dir = store.secret_dir(deployment.name) / "nodes"
                (secret_dir / f"{node.hostname}.host_key").unlink(missing_ok=True)
            node.state = NodeState.stopped
        deployment.resources = resources.to_record()
        compose_file = store.state_dir(deployment.name).absolute() / COMPOSE_FILE
        drop_services(compose_file, deployment.name, [node.hostname for node in nodes])

    # --- probe and lifecycle -------------------------------------------------------------

    def probe(self, deployment: Deployment) -> dict[str, LiveState]:
        """Dead if the container is gone or not running; ready if SSH answers with the pinned
        key (remote engines: if its log shows the readiness line); else running."""
        url = self._engine(resources_of(DockerResources, deployment))
        try:
            api = connect(url)
        except InputError:
            return {node.hostname: LiveState.DEAD for node in deployment.nodes}

        async def probe(node: Node) -> LiveState:
            container_id = node_facts_of(DockerNodeFacts, deployment, node).container_id
            if not await asyncio.to_thread(_is_running, api, container_id):
                return LiveState.DEAD
            if is_local(url):
                answer = await ssh_answer(node.ssh_host, node.ssh_port, node.host_key or "", 3.0)
                ready = answer is SshAnswer.PINNED
            else:
                ready = await asyncio.to_thread(_has_ready_line, api, node.hostname, container_id)
            return LiveState.READY if ready else LiveState.RUNNING

        return asyncio.run(probe_all(deployment.nodes, probe))

    def transport(self, deployment: Deployment, store: DeploymentStore) -> Any:
        """``docker exec`` into the deployment's containers."""
        from nxc.transport.docker import DockerTransport

        return DockerTransport.for_deployment(deployment, store)

    def start_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Start a node's stopped (or killed) container again and wait until it is ready."""
        node = deployment.node(hostname)
        api, facts = self._container_of(deployment, node)
        if _is_running(api, facts.container_id):
            return
        with api_errors(f"start container {facts.container_name}"):
            api.start(facts.container_id)
        self._mark(deployment, store, node, NodeState.launching)
        self._api, self._since = api, time.time() - 1
        missing = self.await_ready(deployment, [node])
        if missing:
            raise self.not_ready_error(deployment, missing, nodes_waited=1)
        self._mark(deployment, store, node, NodeState.ready)

    def shutdown_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Stop the container with its stop signal (systemd halts); killed after 30 s."""
        node = deployment.node(hostname)
        api, facts = self._container_of(deployment, node)
        with api_errors(f"stop container {facts.container_name}"):
            api.stop(facts.container_id, timeout=SHUTDOWN_TIMEOUT)
        self._mark(deployment, store, node, NodeState.stopped)

    def crash_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Kill the container at once (SIGKILL to every process), like pulling the plug."""
        node = deployment.node(hostname)
        api, facts = self._container_of(deployment, node)
        if _is_running(api, facts.container_id):
            with api_errors(f"kill container {facts.container_name}"):
                api.kill(facts.container_id, signal="SIGKILL")
        self._mark(deployment, store, node, NodeState.dead)

    def block_node(self, deployment: Deployment, hostname: str) -> None:
        """Disconnect the node from the deployment's network (``docker exec`` still works)."""
        api, facts = self._container_of(deployment, deployment.node(hostname))
        network_id = resources_of(DockerResources, deployment).network.id
        with api_errors(f"disconnect {facts.container_name} from its network"):
            api.disconnect_container_from_network(facts.container_id, network_id)

    def unblock_node(self, deployment: Deployment, hostname: str) -> None:
        """Reconnect the node to the deployment's network, at its recorded address."""
        node = deployment.node(hostname)
        api, facts = self._container_of(deployment, node)
        network_id = resources_of(DockerResources, deployment).network.id
        with api_errors(f"reconnect {facts.container_name} to its network"):
            api.connect_container_to_network(
                facts.container_id, network_id, ipv4_address=node.address
            )

    def console_log(self, deployment: Deployment, hostname: str) -> Path:
        """The node's container log (its console), saved to the deployment's log folder now."""
        resources = resources_of(DockerResources, deployment)
        log_dir = _recorded(deployment, "log_dir", resources.log_dir)
        api, facts = self._container_of(deployment, deployment.node(hostname))
        _save_log(api, hostname, facts.container_id, log_dir)
        return log_dir / f"{hostname}.console.log"

    def _container_of(
        self, deployment: Deployment, node: Node
    ) -> tuple[docker.APIClient, DockerNodeFacts]:
        """The engine and the recorded container of ``node``; :class:`InputError` if it has
        none (the deployment is not running)."""
        facts = node_facts_of(DockerNodeFacts, deployment, node)
        if not facts.container_id or deployment.state is DeploymentState.stopped:
            raise InputError(
                f"{node.hostname} of {deployment.name} has no container: the deployment is "
                f"{deployment.state}; start it again with 'nxc start'"
            )
        return connect(self._engine(resources_of(DockerResources, deployment))), facts

    def _engine(self, resources: DockerResources) -> str:
        """The engine the deployment was started on, else the one this flavour would use."""
        return resources.engine or engine_url(self.options.engine)

    @staticmethod
    def _mark(deployment: Deployment, store: DeploymentStore, node: Node, state: NodeState) -> None:
        with store.lock(deployment.name):
            node.state = state
            store.save(deployment)


def _place(deployment: Deployment, node: Node, allocated: NodeAddress) -> None:
    """Give ``node`` its address (SSH on port 22 there) and its container's name."""
    node.address, node.mac = allocated.address, None
    node.ssh_host, node.ssh_port = allocated.address, 22
    node.pid = None
    name = containers.container_name(deployment.name, node.hostname)
    node.extra = DockerNodeFacts(container_name=name).to_record()


def _recorded(deployment: Deployment, key: str, value: T | None) -> T:
    """``value``, read from ``resources.<key>``; :class:`DeploymentRecordError` if the record
    lacks it (allocation writes it before any later step reads it)."""
    if value is None:
        raise DeploymentRecordError(
            f"deployment record {deployment.name}: 'resources.{key}' is missing; "
            f"{CORRUPT_RECORD_HINT}"
        )
    return value


def _hostnames_by_container(deployment: Deployment, nodes: list[Node]) -> dict[str, str]:
    """Container id → hostname, for those of ``nodes`` whose container was created."""
    by_container = {}
    for node in nodes:
        container_id = node_facts_of(DockerNodeFacts, deployment, node).container_id
        if container_id:
            by_container[container_id] = node.hostname
    return by_container


def _network_of(subnet: int) -> tuple[str, str]:
    """``(10.S.0.0/16, gateway)``; the gateway (the host's side) is ``10.S.255.254``."""
    return f"10.{subnet}.0.0/{netalloc.PREFIX_LENGTH}", f"10.{subnet}.255.254"


def _f(marker: str | None) -> dict[str, Any]:
    return labels_filter(marker) if marker else {"label": ["nxc.marker=-"]}


def _check_recorded(
    api: docker.APIClient,
    deployment: Deployment,
    store: DeploymentStore,
    marker: str,
    containers_ids: list[str],
    network_id: str | None,
) -> None:
    """Refuse (:class:`UnsafeRecordError`, nothing removed) if a recorded container or network
    still exists without this deployment's labels: the record was edited or corrupted."""
    import docker

    expected = {LABEL_DEPLOYMENT: deployment.name, LABEL_MARKER: marker}
    objects = [(i, api.inspect_container, "container") for i in containers_ids]
    objects += [(network_id, api.inspect_network, "network")] if network_id else []
    for identifier, inspect, kind in objects:
        with api_errors(f"inspect {kind} {str(identifier)[:12]}"):
            try:
                found = inspect(identifier)
            except docker.errors.NotFound:
                continue
        labels = (found.get("Config") or found).get("Labels") or {}
        if any(labels.get(key) != value for key, value in expected.items()):
            raise UnsafeRecordError(
                f"{store.path_for(deployment.name)}: recorded {kind} {str(identifier)[:12]} "
                f"does not carry labels {LABEL_DEPLOYMENT}={deployment.name} and "
                f"{LABEL_MARKER}={marker}, so nxc stop touches nothing; restore the record, or "
                "remove it with 'nxc clean --force' after removing its containers by hand"
            )


def _with_marked(recorded: list[str], found: list[dict[str, Any]], key: str = "Id") -> list[str]:
    """Recorded ids first, then those found by the marker label that were not recorded yet."""
    ids = list(recorded)
    for item in found:
        identifier = item.get(key) or item.get("Id")
        if identifier and not any(_same_id(identifier, known) for known in ids):
            ids.append(identifier)
    return ids


def _same_id(one: str, other: str) -> bool:
    return one.startswith(other) or other.startswith(one)


def _ignore_missing(action: Any, identifier: str, what: str) -> None:
    """``action(identifier)``; an object already gone is fine (stop is idempotent)."""
    import docker

    with api_errors(what), contextlib.suppress(docker.errors.NotFound):
        action(identifier)


def _remove_containers(
    api: docker.APIClient,
    marker: str | None,
    recorded: list[str],
    force: bool,
    settle: bool,
    stopped: Callable[[str], None] = lambda container_id: None,
) -> None:
    """Remove the recorded containers and those carrying the marker, stopping them gracefully
    (all at once) unless ``force``; ``stopped`` is called with each id between its stop and
    its removal. After an interrupted start (``settle``), creations the engine was still
    finishing when ``nxc start`` died show up late: keep looking a while."""
    from concurrent.futures import ThreadPoolExecutor

    deadline = time.monotonic() + (SETTLE_TIME if settle else 0.0)
    removed: list[str] = []
    grace = 0 if force else SHUTDOWN_TIMEOUT
    while True:
        with api_errors("list the deployment's containers"):
            marked = api.containers(all=True, filters=_f(marker))
        pending = [c for c in _with_marked(recorded, marked) if c not in removed]
        if pending:
            with ThreadPoolExecutor(max_workers=min(16, len(pending))) as pool:
                list(pool.map(lambda c: _remove_container(api, c, grace, stopped), pending))
            removed.extend(pending)
        elif time.monotonic() >= deadline:
            return
        else:
            time.sleep(POLL_INTERVAL)


def _remove_container(
    api: docker.APIClient, container_id: str, grace: int, stopped: Callable[[str], None]
) -> None:
    """Stop (``grace`` seconds for its stop signal to work) and remove one container."""
    if grace:
        _ignore_missing(
            lambda c: api.stop(c, timeout=grace), container_id, f"stop {container_id[:12]}"
        )
    stopped(container_id)
    _ignore_missing(
        lambda c: api.remove_container(c, v=True, force=True),
        container_id,
        f"remove container {container_id[:12]}",
    )


def _check_images(
    api: docker.APIClient, roles: dict[str, containers.RoleContainer], source: str
) -> None:
    import docker

    for role, rc in roles.items():
        if rc.image == containers.BASE_IMAGE:
            continue
        try:
            api.inspect_image(rc.image)
        except docker.errors.ImageNotFound:
            raise ManifestError(
                f"{source}: image '{rc.image}' of role {role} is not in the Docker engine; "
                "load it first ('docker load -i FILE' or 'docker import TARBALL NAME') or "
                "rebuild with 'nxc build -f docker'"
            ) from None


def _check_names(
    api: docker.APIClient, deployment: Deployment, added: list[Node] | None = None
) -> None:
    """Refuse, before anything is created, names the engine already has (of the ``added``
    nodes and nothing else when some are added to the running deployment)."""
    for node in deployment.nodes if added is None else added:
        name = containers.container_name(deployment.name, node.hostname)
        with api_errors("list containers"):
            clash = api.containers(all=True, filters={"name": f"^/{name}$"})
        if clash:
            owner = (clash[0].get("Labels") or {}).get(LABEL_DEPLOYMENT)
            whose = f"left by deployment {owner}" if owner else "not created by nxc"
            raise InputError(
                f"a container named {name} already exists ({clash[0]['Id'][:12]}, {whose}); "
                f"remove it ('docker rm -f {name}') or start this one beside it with --tag"
            )
    if added is not None:
        return
    name = containers.network_name(deployment.name)
    with api_errors("list networks"):
        clash = [n for n in api.networks(names=[name]) if n.get("Name") == name]
    if clash:
        raise InputError(
            f"a Docker network named {name} already exists ({clash[0]['Id'][:12]}); remove "
            f"it ('docker network rm {name}') or start this deployment with --tag"
        )


def _taken_subnets(api: docker.APIClient, store: DeploymentStore, name: str, url: str) -> set[int]:
    """Second octets ``S`` whose ``10.S.0.0/16`` is used by another deployment, an engine
    network or (local engines) a route of this machine."""
    taken = {
        octet
        for other in store.active()
        if other.name != name and (octet := resources_of(SubnetInUse, other).octet) is not None
    }
    used: list[ipaddress.IPv4Network] = []
    with api_errors("list networks"):
        for network in api.networks():
            for config in (network.get("IPAM") or {}).get("Config") or []:
                try:
                    used.append(ipaddress.IPv4Network(config.get("Subnet", ""), strict=False))
                except ValueError:
                    continue
    if is_local(url):
        used.extend(_host_routes())
    for octet in range(1, 255):
        candidate = ipaddress.IPv4Network(f"10.{octet}.0.0/16")
        if any(candidate.overlaps(network) for network in used if network.prefixlen > 0):
            taken.add(octet)
    return taken


def _host_routes() -> list[ipaddress.IPv4Network]:
    routes: list[ipaddress.IPv4Network] = []
    try:
        lines = Path("/proc/net/route").read_text().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        destination = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
        mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        try:
            routes.append(ipaddress.IPv4Network(f"{destination}/{mask}", strict=False))
        except ValueError:
            continue
    return routes


def _inspect(api: docker.APIClient, container_id: str | None) -> dict[str, Any] | None:
    import docker

    if not container_id:
        return None
    try:
        return api.inspect_container(container_id)
    except docker.errors.NotFound:
        return None


def _is_running(api: docker.APIClient, container_id: str | None) -> bool:
    details = _inspect(api, container_id)
    return bool(details and details["State"].get("Running"))


def _log_text(
    api: docker.APIClient,
    container_id: str | None,
    tail: int | str = "all",
    since: float | None = None,
) -> str:
    import docker

    if not container_id:
        return ""
    options: dict[str, Any] = {"tail": tail}
    if since is not None:
        options["since"] = int(since)
    try:
        data = api.logs(container_id, **options)
    except docker.errors.NotFound:
        return ""
    return data.decode(errors="replace").replace("\r", "")


def _tail(api: docker.APIClient, container_id: str | None) -> str:
    return _log_text(api, container_id, tail=LOG_TAIL_LINES).rstrip("\n") or "(no log output)"


def _save_log(
    api: docker.APIClient, hostname: str, container_id: str | None, log_dir: Path
) -> None:
    text = _log_text(api, container_id)
    if text:
        write_atomic(log_dir / f"{hostname}.console.log", text)


def _refresh_logs(api: docker.APIClient, deployment: Deployment, store: DeploymentStore) -> None:
    """Copy every container's log into the deployment's log folder (they go with stop)."""
    log_dir = store.log_dir(deployment.name)
    for container_id, hostname in _hostnames_by_container(deployment, deployment.nodes).items():
        _save_log(api, hostname, container_id, log_dir)


def _has_ready_line(
    api: docker.APIClient, hostname: str, container_id: str | None, since: float | None = None
) -> bool:
    return f"nxc-ready {hostname}" in _log_text(api, container_id, since=since)
