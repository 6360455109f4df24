"""The Grid'5000 kexec flavour ``g5k-ramdisk``, which ``g5k-nfs-store`` and ``g5k-image`` extend.

Hosts come from OAR or a machine file (:mod:`nxc.flavours.g5k.hosts`): node *i* of the plan
gets host *i*, extra hosts are recorded as unused, too few hosts are refused before anything
boots. Then, on every host at once: the kernel and initrd are pushed over SSH (skipped when a
file with the same SHA-256 is already there), loaded with ``kexec -l`` and the node's own
kernel parameters (deployment info inline or as a URL, and the URL of its private host key,
both served by :mod:`nxc.infoserver`: the key once, to that node's address only), and
``kexec -e`` runs detached. A node is ready when its SSH server answers
with the host key nxc generated for it; nodes missing after the timeout are kexec'd again
(``retries``), then named in the error. While waiting, the OAR job is watched: its end or
deletion is reported as such.

``g5k-nfs-store`` (:mod:`nxc.flavours.g5k.nfs_store`) additionally tells the nodes where to
mount ``/nix/store`` read-only over NFS (``nix_store`` in the deployment info and
``nxc.nfs_store=ADDRESS:EXPORT``), by default from the address of this machine that faces the
nodes.

The flavours' options are :mod:`nxc.flavours.g5k.options`'. The record's ``resources``
(:class:`~nxc.flavours.g5k.record.KexecResources`) hold the OAR job (``oar``: id, whether nxc
created it, frontend) and those reserved for added nodes, the assigned and unused hosts, how
the hosts are reached, and the info server (pid, port, token, marker): :meth:`stop` stops the
server and deletes only a job nxc created, even after ``nxc start`` crashed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import shutil
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nxc.atomic import write_atomic
from nxc.deployment import DeploymentState, NodeState
from nxc.deployment_info import InfoExtras, deployment_root_key
from nxc.errors import (
    ExternalCommandError,
    InputError,
    ManifestError,
    NxcError,
    ResourceLimitError,
)
from nxc.flavours.base import Flavour, LiveState, Stage, StartRun
from nxc.flavours.common.readiness import Guard, Readiness, probe_all
from nxc.flavours.common.sshready import SshAnswer, ssh_answer
from nxc.flavours.g5k import kexec
from nxc.flavours.g5k.hosts import PlacedHosts, assign_free_hosts, place_nodes, release
from nxc.flavours.g5k.options import KexecOptions
from nxc.flavours.g5k.record import (
    AddedJobRecord,
    InfoServerRecord,
    KexecNodeFacts,
    KexecResources,
    OarJobRecord,
    kexec_resources,
    secret_dir_of,
)
from nxc.infoserver import (
    InfoServer,
    arm_host_key,
    reload_recorded,
    root_key_dir,
    start_info_server,
    stop_recorded,
    write_clients,
)
from nxc.keys import KeyPair
from nxc.platforms.broadcast import broadcast_files
from nxc.platforms.machinefile import Hosts
from nxc.platforms.oar import Oar, OarJob
from nxc.platforms.placement import NodePlacement

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.manifest import Manifest

BootFiles = tuple[Path, Path, str]
"""What nodes kexec into: kernel, initrd, the build's base command line."""
DEFAULT_READY_TIMEOUT = 300.0
SSH_ATTEMPT = 5.0
PROBE_TIMEOUT = 10.0
REBOOT_COMMAND = "setsid sh -c 'sleep 1; reboot -f' < /dev/null > /dev/null 2>&1 &"
"""Reboot a node's host, detached so that the SSH session asking ends first."""
POWEROFF_COMMAND = "setsid sh -c 'sleep 1; poweroff -f' < /dev/null > /dev/null 2>&1 &"
"""Power a node's host off, detached so that the SSH session asking ends first."""
KEY_DIR = "host_keys"
"""Under the deployment's private folder: the keys armed for the info server to hand out."""


def address_facing(host: str) -> str:
    """This machine's address on the route to ``host`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
        except OSError as error:
            raise InputError(f"no route from this machine to {host}: {error}") from None
        return str(probe.getsockname()[0])


def ipv4_of(host: str) -> str:
    """The IPv4 address of a host name (nodes find their entry by address)."""
    try:
        return socket.gethostbyname(host)
    except OSError as error:
        raise InputError(f"host {host} does not resolve to an IPv4 address: {error}") from None


class KexecFlavour(Flavour):
    """``g5k-ramdisk``: reserved hosts kexec'd into the composition's kernel and initrd."""

    name: ClassVar[str] = "g5k-ramdisk"
    boot_method: ClassVar[str] = "kexec"
    guest_reboot_keeps_system: ClassVar[bool] = False
    places_on_clusters: ClassVar[bool] = True
    places_on_sites: ClassVar[bool] = True
    leave_command: ClassVar[str] = REBOOT_COMMAND
    """What a removed node's host runs to leave the composition (after a kexec, a reboot
    boots the host's own system)."""

    options: KexecOptions
    options_type: ClassVar[type[KexecOptions]] = KexecOptions

    def __init__(self, options: KexecOptions | None = None) -> None:
        """The flavour with ``options`` (checked when they were made: see
        :class:`~nxc.flavours.g5k.options.KexecOptions`)."""
        super().__init__(options)
        self._access = self.options.host_access()
        self._shell: kexec.HostShell | None = None
        self._host_keys: dict[str, bytes] = {}
        self._client_key_path: Path | None = None
        self._jobs: list[OarJob] = []
        """The OAR jobs holding the hosts of the nodes being started (none: a machine file)."""
        self._root_key: KeyPair | None = None
        self._role_boot: dict[str, BootFiles] = {}

    @property
    def kernel_params(self) -> tuple[str, ...]:
        """The user's extra kernel parameters (the deployment's, once nodes are added to it)."""
        return self._access.kernel_params

    @property
    def _ready_seconds(self) -> float:
        """How long start waits for the nodes to come back."""
        timeout = self.options.timeout
        return DEFAULT_READY_TIMEOUT if timeout is None else timeout

    # --- checks --------------------------------------------------------------------------

    def check_tools(self) -> None:
        """Find the OpenSSH client that reaches the hosts."""
        self._shell = kexec.HostShell.found(self._access.user, self._access.ssh_options)

    @property
    def shell(self) -> kexec.HostShell:
        if self._shell is None:
            self.check_tools()
        assert self._shell is not None
        return self._shell

    def check_request(self, manifest: Manifest, composition: str, hostnames: list[str]) -> None:
        """A manifest of this flavour with kernels and initrds that exist."""
        self.boot_files(manifest, composition)
        self.role_boot_files(manifest, composition)

    def boot_files(self, manifest: Manifest, composition: str) -> BootFiles:
        """Kernel, initrd and base command line of ``composition`` (what its roles share)."""
        if manifest.flavour != self.name:
            raise ManifestError(
                f"{manifest.source} was built for flavour '{manifest.flavour}', not "
                f"'{self.name}'; build with 'nxc build -f {self.name}' or start it with "
                f"-f {manifest.flavour}"
            )
        entry = manifest.composition(composition)
        entry.artefacts.require("kernel", "initrd", flavour=self.name, source=manifest.source)
        shared = entry.artefacts
        return self._existing(
            manifest, shared.kernel or "", shared.initrd or "", shared.cmdline or ""
        )

    def role_boot_files(self, manifest: Manifest, composition: str) -> dict[str, BootFiles]:
        """Role -> kernel, initrd and base command line, for the roles of ``composition``
        with a kernel of their own (the manifest's ``role_boot``)."""
        entry = manifest.composition(composition)
        return {
            role: self._existing(manifest, *entry.boot_files(role))
            for role in entry.artefacts.role_boot or {}
        }

    def _existing(self, manifest: Manifest, kernel: str, initrd: str, cmdline: str) -> BootFiles:
        """The boot files as paths; :class:`ManifestError` if one is not there."""
        for what, path in (("kernel", kernel), ("initrd", initrd)):
            if not Path(path).is_file():
                raise ManifestError(
                    f"{manifest.source}: {what} {path} does not exist (garbage-collected?); "
                    f"rebuild with 'nxc build -f {self.name}'"
                )
        return Path(kernel), Path(initrd), cmdline

    def _boot_of(self, role: str) -> BootFiles:
        """What the nodes of ``role`` boot: its own boot files, else the shared ones."""
        return self._role_boot.get(role, self._boot_files)

    # --- start ---------------------------------------------------------------------------

    def allocate(self, run: StartRun) -> None:
        """The hosts (an OAR job reserved or joined, recorded as soon as it is known; roles
        placed on clusters get hosts of theirs), one per node."""
        deployment, store = run.deployment, run.store
        self._boot_files = self.boot_files(run.manifest, deployment.composition)
        self._role_boot = self.role_boot_files(run.manifest, deployment.composition)
        resources = KexecResources(secret_dir=store.secret_dir(deployment.name) / "nodes")
        resources.record_access(self._access)
        deployment.resources = resources.to_record()
        store.save(deployment)  # the record says where its secrets go before a job exists
        jobs: list[OarJob] = []

        def record(job: OarJob) -> None:
            jobs.append(job)
            if resources.oar is None:
                resources.oar = OarJobRecord.of(job)
            else:  # another site's job
                resources.site_jobs = [*(resources.site_jobs or []), AddedJobRecord.of(job)]
            deployment.resources = resources.to_record()
            store.save(deployment)

        placements = _placements(deployment.nodes)
        placed = place_nodes(self.options.host_source, record, placements)
        resources.hosts, resources.unused_hosts = placed.assigned, placed.unused
        resources.host_source = placed.source
        _note_sites(resources, placed)
        for site_job in resources.site_jobs or []:
            site_job.hosts = placed.hosts_of_job.get(site_job.oar_job_id or -1, [])
            site_job.site = placed.host_sites.get(site_job.hosts[0]) if site_job.hosts else None
        deployment.resources = resources.to_record()
        _place_on_hosts(deployment.nodes, resources.hosts)
        self._jobs = jobs
        self._client_key_path = store.client_key_path(deployment.name)

    def allocate_added(self, run: StartRun) -> None:
        """Hosts for the added nodes from the deployment's unused ones (its OAR job's or
        machine file's hosts no node runs on; roles placed on clusters get hosts of theirs);
        the deployment's SSH settings and kernel parameters, whatever this flavour was given."""
        deployment = run.deployment
        resources = kexec_resources(deployment)
        self._boot_files = self.boot_files(run.manifest, deployment.composition)
        self._role_boot = self.role_boot_files(run.manifest, deployment.composition)
        self._access = resources.host_access(self._access)
        self._shell = None  # made again with the deployment's SSH settings
        self._jobs = [record.job() for record in resources.deployment_jobs()]
        self._client_key_path = run.store.client_key_path(deployment.name)
        added = run.launching
        placements = _placements(added)
        source = self.options.host_source
        if source.oar_request is not None:
            assigned = self._hosts_of_new_job(run, resources, placements)
        else:
            free = Hosts(tuple(resources.unused_hosts), _free_hosts_source(resources))
            if len(free.names) < len(added):
                raise ResourceLimitError.naming(
                    f"{deployment.name}: {free.source} are {len(free.names)} for {len(added)} "
                    "new node(s); reserve hosts for them with {oar_request} 'nodes=N,walltime=H:MM'",
                    "oar_request",
                )
            frontend = resources.oar.job().frontend if resources.oar else source.frontend
            assigned, resources.unused_hosts = assign_free_hosts(
                free, placements, resources.host_sites or {}, frontend
            )
        resources.hosts = [*resources.hosts, *assigned]
        deployment.resources = resources.to_record()
        _place_on_hosts(added, assigned)

    def _hosts_of_new_job(
        self, run: StartRun, resources: KexecResources, placements: list[NodePlacement]
    ) -> list[str]:
        """Reserve new OAR jobs for the added nodes (one, or one per site they are placed on;
        recorded in ``added_jobs`` as soon as each is known, with the hosts it gave), wait
        until they run, and watch them from then on; their hosts left over join the unused
        ones (in ``resources``, the deployment's)."""
        deployment, store = run.deployment, run.store
        started = time.monotonic()
        jobs = resources.added_jobs = resources.added_jobs or []
        new: list[AddedJobRecord] = []

        def record(job: OarJob) -> None:
            new.append(AddedJobRecord.of(job))
            jobs.append(new[-1])
            deployment.resources = resources.to_record()
            store.save(deployment)
            self._jobs.append(job)

        placed = place_nodes(self.options.host_source, record, placements)
        run.platform_seconds = time.monotonic() - started
        for job_record in new:
            job_record.hosts = placed.hosts_of_job.get(job_record.oar_job_id or -1, [])
        _note_sites(resources, placed)
        resources.unused_hosts = [*resources.unused_hosts, *placed.unused]
        return placed.assigned

    def base_command_line(self, built: str, deployment: Deployment) -> str:
        """The command line every node shares: the build's, the flavour's own parameters,
        then the user's ``kernel_params`` (nxc's per-node parameters follow)."""
        params = (built, *self.extra_params(deployment), *self._access.kernel_params)
        return " ".join(part for part in params if part)

    def info_extras(self, deployment: Deployment) -> InfoExtras:
        """Nodes on physical hosts: matched by address, no shared folder, and what
        :meth:`extra_info` adds; the root key's private half from the info server."""
        return InfoExtras(with_macs=False, more=self.extra_info(deployment), root_key_by_url=True)

    def extra_info(self, deployment: Deployment) -> dict[str, Any]:
        """Flavour-specific keys of the deployment info."""
        return {}

    def extra_params(self, deployment: Deployment) -> list[str]:
        """Flavour-specific kernel parameters."""
        return []

    def prepare(self, run: StartRun) -> None:
        """The info server (the info, each node's key armed for its address) and each node's
        kernel command line; the boot files' digests."""
        deployment = run.deployment
        secret_dir_of(deployment).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._root_key = deployment_root_key(deployment, run.store, run.manifest)
        base = self.base_command_line(self._boot_files[2], deployment)
        own = {
            node.hostname: self.base_command_line(self._role_boot[node.role][2], deployment)
            for node in deployment.nodes
            if node.role in self._role_boot
        }
        self._lines = self._command_lines(deployment, run.store, run.info, run.host_keys, base, own)
        boots = [self._boot_files, *self._role_boot.values()]
        digests = {
            path: kexec.sha256_of(path) for kernel, initrd, _ in boots for path in (kernel, initrd)
        }
        self._files = {digest: path for path, digest in digests.items()}
        self._remote = {
            node.hostname: (
                kexec.remote_path(digests[self._boot_of(node.role)[0]]),
                kexec.remote_path(digests[self._boot_of(node.role)[1]]),
            )
            for node in deployment.nodes
        }

    def _command_lines(
        self,
        deployment: Deployment,
        store: DeploymentStore,
        info: dict[str, Any],
        host_keys: dict[str, bytes],
        base: str,
        own: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """Each node's command line: its base (``own``'s for the nodes whose role has a kernel
        of its own, else ``base``) and nxc's per-node parameters, the info inline if every
        line fits with it."""
        document = json.dumps(info, separators=(",", ":")).encode()
        self._host_keys = host_keys
        server = self._serve_info(deployment, store, document)
        key_urls = {host: self.key_url(server, host) for host in host_keys}
        bases = {host: (own or {}).get(host, base) for host in host_keys}
        delivery = self.options.info_delivery
        inline = delivery == "inline" or (
            delivery == "auto"
            and all(
                kexec.inline_fits(bases[host], document, [url]) for host, url in key_urls.items()
            )
        )
        if inline:
            lines = {
                host: kexec.node_command_line(bases[host], url, info=document)
                for host, url in key_urls.items()
            }
        else:
            lines = {
                host: kexec.node_command_line(bases[host], url, info_url=server.url)
                for host, url in key_urls.items()
            }
        too_long = [host for host, line in lines.items() if not kexec.fits(line)]
        if too_long:
            raise InputError(
                f"the kernel command line of {', '.join(too_long)} exceeds "
                f"{kexec.MAX_CMDLINE} bytes even with the deployment info as a URL; shorten "
                "the composition's kernel parameters"
            )
        resources = kexec_resources(deployment)
        resources.info_delivery = "inline" if inline else "url"
        deployment.resources = resources.to_record()
        return lines

    def key_url(self, server: InfoServer, hostname: str) -> str:
        """The URL node ``hostname`` fetches its host key from (``nxc.host_key_url=``)."""
        return server.key_url(hostname)

    def _serve_info(
        self, deployment: Deployment, store: DeploymentStore, document: bytes
    ) -> InfoServer:
        """Start the info server: the info, and each node's key armed for that node's address
        (nodes added to a running deployment: the running server, told to serve them too)."""
        secret_dir = secret_dir_of(deployment)
        info_file = secret_dir / "info.json"
        write_atomic(info_file, document, mode=0o600)
        clients = secret_dir / "clients.json"
        write_clients(clients, {node.hostname: node.address for node in deployment.nodes})
        self.arm_keys(deployment, list(self._host_keys))
        resources = kexec_resources(deployment)
        running = resources.info_server
        if running and deployment.state is DeploymentState.running:
            reload_recorded(running.to_record(), document)
            return InfoServer(**running.to_record())
        address = self.options.info_address or address_facing(deployment.nodes[0].address)
        log = store.log_dir(deployment.name) / "infoserver.log"
        server = start_info_server(info_file, address, log, secret_dir / KEY_DIR, clients)
        resources.info_server = InfoServerRecord.of(server)
        deployment.resources = resources.to_record()
        store.save(deployment)
        return server

    def arm_keys(self, deployment: Deployment, hostnames: list[str]) -> None:
        """Let the info server hand out the host keys of ``hostnames`` once more (each node
        fetches its own at boot; a node booted again needs it again), and the deployment's
        root key pair to each of them when the composition wants one."""
        key_dir = secret_dir_of(deployment) / KEY_DIR
        for hostname in hostnames:
            arm_host_key(key_dir, hostname, self._host_keys[hostname])
            if self._root_key is not None:
                arm_host_key(root_key_dir(key_dir), hostname, self._root_key.private_openssh)

    @property
    def launch_attempts(self) -> int:
        """The first boot, then ``retries`` more for the nodes that did not come back."""
        return self.options.retries + 1

    def ready_timeout(self, nodes: int) -> float:
        """How long start waits for the nodes to come back: ``timeout``."""
        return self._ready_seconds

    def not_ready_reason(self) -> str:
        """Why a node that did not come back is missing."""
        return f"no SSH answer with its new host key within {self._ready_seconds:.0f} s"

    def before_retry(self, deployment: Deployment, nodes: list[Node]) -> None:
        """The info server hands the keys of ``nodes`` out once more."""
        self.arm_keys(deployment, [node.hostname for node in nodes])

    def launch(self, run: StartRun, nodes: list[Node]) -> dict[str, str]:
        """Broadcast the boot files to the hosts (a TakTuk tree from 8 hosts on, so this
        machine sends them about twice whatever their number; a parallel copy otherwise or
        where the tree cannot reach), then kexec each host, at most ``max_concurrency`` at
        once; hostname → why for the hosts where either failed (start boots them again)."""
        files = self._files
        deployment = run.deployment
        hosts = [node.ssh_host for node in nodes]
        pushed = broadcast_files(
            self.shell,
            hosts,
            files,
            relay_options=self.options.relay_ssh_options,
            concurrency=self.options.max_concurrency,
        )
        resources = kexec_resources(deployment)
        resources.push = pushed.summary()
        deployment.resources = resources.to_record()
        not_pushed = pushed.failed
        failures = {
            node.hostname: f"the boot files did not reach it: {not_pushed[node.ssh_host]}"
            for node in nodes
            if node.ssh_host in not_pushed
        }

        def boot(node: Node) -> None:
            kernel, initrd = self._remote[node.hostname]
            script = kexec.kexec_script(kernel, initrd, self._lines[node.hostname])
            status, _, stderr = self.shell.call(node.ssh_host, "sh -s", script.encode())
            # 255: the connection dropped, which kexec -e may do before the exit status
            if status not in (0, 255):
                raise ExternalCommandError(f"kexec failed (exit {status}): {stderr.strip()}")

        todo = [node for node in nodes if node.hostname not in failures]
        workers = max(min(self.options.max_concurrency, len(todo)), 1)
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(boot, node): node for node in todo}
            for future in concurrent.futures.as_completed(futures):
                node = futures[future]
                try:
                    future.result()
                except ExternalCommandError as error:
                    failures[node.hostname] = str(error)
                    continue
                node.state = NodeState.launching
                run.progress(node.hostname, Stage.LAUNCHED)
        self._check_job()
        return failures

    def _check_job(self) -> None:
        for job in self._jobs:
            Oar(job.frontend).ensure_alive(job)

    def ready_guard(self, deployment: Deployment) -> Guard | None:
        """The OAR jobs holding the hosts must still run."""
        return self._check_job if self._jobs else None

    async def readiness(
        self, deployment: Deployment, node: Node, booted: bool, remaining: float
    ) -> Readiness:
        """Ready when the host answers with the node's new key (no console to tell booted:
        another key is the host's previous system, still up or going down)."""
        answer = await ssh_answer(
            node.ssh_host,
            node.ssh_port,
            node.host_key or "",
            min(SSH_ATTEMPT, remaining),
            self._access.ssh_config,
        )
        return Readiness.READY if answer is SshAnswer.PINNED else Readiness.WAITING

    def not_ready_hint(self, deployment: Deployment) -> str:
        """Where to look, and what else to do."""
        return (
            f"they did not come back after {self.boot_method}; check those hosts' consoles "
            "(on Grid'5000: 'kaconsole3 -m HOST') or reserve other hosts"
        )

    def remove_nodes(
        self, deployment: Deployment, store: DeploymentStore, nodes: list[Node]
    ) -> None:
        """Let the hosts of ``nodes`` leave the composition (:attr:`leave_command`: after a
        kexec, a reboot into their own system) and give them back to the deployment's unused
        hosts; the info server no longer hands them anything."""
        gone = {node.hostname for node in nodes}

        launched = [node.hostname for node in nodes if node.state is not NodeState.planned]
        failed = []
        if launched:
            with self.transport(deployment, store) as transport:
                answers = transport.run(self.leave_command, launched, timeout=60)
            failed = [answer for answer in answers if not answer.ok]
        if failed:
            raise ExternalCommandError(
                "could not make "
                + "; ".join(f"{answer.host}: {answer.describe_failure()}" for answer in failed)
                + " leave the composition; they stay in the deployment: try again, or stop it"
            )
        hosts = [node.ssh_host for node in nodes if node.ssh_host]
        resources = kexec_resources(deployment)
        resources.hosts = [host for host in resources.hosts if host not in hosts]
        resources.unused_hosts = [*resources.unused_hosts, *hosts]
        self._release_idle_jobs(deployment, store, resources)
        secret_dir = store.secret_dir(deployment.name) / "nodes"
        staying = {n.hostname: n.address for n in deployment.nodes if n.hostname not in gone}
        if (secret_dir / "clients.json").is_file():
            write_clients(secret_dir / "clients.json", staying)
        for node in nodes:
            node.state = NodeState.stopped

    def _release_idle_jobs(
        self, deployment: Deployment, store: DeploymentStore, resources: KexecResources
    ) -> None:
        """Delete the OAR jobs nxc reserved for added nodes once no node runs on their hosts;
        their hosts leave the unused ones (``resources``, written back to the deployment)."""
        busy = set(resources.hosts)
        kept = []
        for job in resources.added_jobs or []:
            if busy.intersection(job.hosts):
                kept.append(job)
                continue
            deployment.resources = resources.to_record()
            store.save(deployment)  # the record says what is being released first
            release(job)
            idle = set(job.hosts)
            resources.unused_hosts = [h for h in resources.unused_hosts if h not in idle]
        resources.added_jobs = kept
        deployment.resources = resources.to_record()

    # --- stop and probe ------------------------------------------------------------------

    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        """Stop the info server, delete the OAR job if nxc created it, forget the secrets."""
        resources = kexec_resources(deployment)
        if resources.info_server is not None:
            stop_recorded(resources.info_server.to_record(), grace=0 if force else 2)
        for job in resources.all_jobs():
            if not job.released:  # a second stop need not reach OAR
                release(job)
                job.released = True
                deployment.resources = resources.to_record()
        secret_dir = resources.secret_dir
        # Only this deployment's own private folder, never another path a record names.
        if secret_dir and secret_dir == store.secrets_dir / deployment.name / "nodes":
            shutil.rmtree(secret_dir, ignore_errors=True)
        for node in deployment.nodes:
            node.state = NodeState.stopped
        deployment.state = DeploymentState.stopped
        store.save(deployment)

    def probe(self, deployment: Deployment) -> dict[str, LiveState]:
        """Ready if SSH answers with the pinned key; dead if the OAR job is over; else running."""
        resources = kexec_resources(deployment)
        if _job_ended(resources.oar):
            return {node.hostname: LiveState.DEAD for node in deployment.nodes}
        gone = {
            host for job in resources.jobs_with_hosts() if _job_ended(job) for host in job.hosts
        }
        config = resources.ssh_config

        async def probe(node: Node) -> LiveState:
            if node.ssh_host in gone:
                return LiveState.DEAD
            answer = await ssh_answer(
                node.ssh_host, node.ssh_port, node.host_key or "", PROBE_TIMEOUT, config
            )
            return LiveState.READY if answer is SshAnswer.PINNED else LiveState.RUNNING

        return asyncio.run(probe_all(deployment.nodes, probe))


def _place_on_hosts(nodes: list[Node], hosts: list[str]) -> None:
    """Node *i* of ``nodes`` runs on host *i* of ``hosts`` (reached over SSH, by address)."""
    for node, host in zip(nodes, hosts, strict=True):
        node.ssh_host, node.ssh_port = host, 22
        node.address = ipv4_of(host)
        node.extra = KexecNodeFacts(host=host).to_record()


def _placements(nodes: list[Node]) -> list[NodePlacement]:
    """Where each node must be: its cluster, its site (``-r role=site:S:cluster:C:N``)."""
    return [NodePlacement(node.hostname, node.cluster, node.site) for node in nodes]


def _note_sites(resources: KexecResources, placed: PlacedHosts) -> None:
    """Keep the site of each host reserved on one, for nodes added later."""
    if placed.host_sites:
        resources.host_sites = {**(resources.host_sites or {}), **placed.host_sites}


def _free_hosts_source(resources: KexecResources) -> str:
    """How messages name the hosts left for nodes added later."""
    return f"the unused hosts of {resources.host_source or 'the deployment'}"


def _job_ended(record: OarJobRecord | None) -> bool:
    """Whether the recorded OAR job is over (``False`` when OAR cannot be asked from here: the
    nodes' answers decide)."""
    if record is None:
        return False
    job = record.job()
    try:
        return Oar(job.frontend).job_info(job.job_id).ended
    except NxcError:
        return False
