"""The ``vm`` flavour: every node is a local QEMU virtual machine.

Per deployment: one VDE switch (the nodes' L2 segment, no root bridge), a ``10.S.0.0/16``
subnet, and a short-named run folder under the system's temporary folder holding the sockets
(unix socket paths are limited to 108 bytes). Per node: QEMU booting the manifest's kernel and
initrd, the deployment info and the node's own host key as fw_cfg files, the host's
``/nix/store`` (read-only) and the deployment's shared folder over 9p, its serial console in
a log file, SSH forwarded from ``127.0.0.1:PORT``, a QMP socket for crash/block.

Every process carries the deployment's random marker in its command line; stop only signals
processes whose ``/proc/<pid>/cmdline`` shows it (see :mod:`nxc.flavours.common.processes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from nxc import keys, netalloc
from nxc.atomic import write_atomic
from nxc.deployment import DeploymentState, NodeState
from nxc.deployment_info import InfoExtras
from nxc.errors import (
    DeploymentRecordError,
    ExternalCommandError,
    InputError,
    ManifestError,
    ResourceLimitError,
    UnsafeRecordError,
)
from nxc.flavours import registry
from nxc.flavours.base import Flavour, LiveState, Stage, StartRun
from nxc.flavours.common import processes
from nxc.flavours.common.readiness import Readiness, probe_all, ssh_readiness
from nxc.flavours.common.sshready import SshAnswer, ssh_answer
from nxc.flavours.options import FlavourOptions
from nxc.flavours.vm import qemu, vde
from nxc.flavours.vm.options import VmOptions
from nxc.flavours.vm.qmp import qmp_command
from nxc.flavours.vm.record import (
    SwitchFacts,
    VmNodeFacts,
    VmResources,
    recorded,
    recorded_secret_dir,
)
from nxc.programs import find_program
from nxc.record_section import node_facts_of, resources_of
from nxc.roles import is_hostname

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.manifest import Manifest

NIX_STORE = Path("/nix/store")
"""Shared read-only with every guest when it exists (a NixOS guest needs it; the test bed does not)."""
SHARED_TAG = "nxcshared"
CONSOLE_TAIL_LINES = 15
SSH_ATTEMPT_BOOTING = 5.0
SSH_ATTEMPT_READY = 20.0
PROBE_TIMEOUT = 10.0

T = TypeVar("T")


def mem_available_mib() -> int:
    """``MemAvailable`` of /proc/meminfo, in MiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise ExternalCommandError("/proc/meminfo has no MemAvailable line")


def check_memory(nodes: int, memory_mib: int, available_mib: int | None = None) -> None:
    """Refuse to launch ``nodes`` VMs of ``memory_mib`` each if the machine can't hold them."""
    available = mem_available_mib() if available_mib is None else available_mib
    per_node = memory_mib + qemu.QEMU_OVERHEAD_MIB
    needed = nodes * per_node
    if needed > available:
        fits = max(available // per_node, 0)
        raise ResourceLimitError.naming(
            f"{nodes} nodes x ({memory_mib} MiB + {qemu.QEMU_OVERHEAD_MIB} MiB QEMU overhead) "
            f"= {needed} MiB, but this machine has only {available} MiB available "
            f"(MemAvailable); start at most {fits} nodes of this size or lower {{memory}} "
            f"(minimum {qemu.MIN_MEMORY_MIB}M)",
            "memory",
        )


@dataclass(frozen=True)
class VmArtefacts:
    """What a vm build gives one composition: the shared boot files, role systems, and the
    boot files of the roles with a kernel of their own (role -> kernel, initrd, cmdline)."""

    kernel: Path
    initrd: Path
    cmdline: str
    systems: dict[str, str]
    role_boot: dict[str, tuple[Path, Path, str]] = field(default_factory=dict)

    def for_role(self, role: str) -> VmArtefacts:
        """The artefacts a node of ``role`` boots: its role's own boot files, else the shared."""
        if role not in self.role_boot:
            return self
        kernel, initrd, cmdline = self.role_boot[role]
        return VmArtefacts(kernel, initrd, cmdline, self.systems)


def vm_artefacts(manifest: Manifest, composition: str, flavour: str = "vm") -> VmArtefacts:
    """The boot artefacts of ``composition``; :class:`ManifestError` if not a ``flavour`` build."""
    if manifest.flavour != flavour:
        raise ManifestError(
            f"{manifest.source} was built for flavour '{manifest.flavour}', not '{flavour}'; "
            f"build for it with 'nxc build -f {flavour}', or start it with -f {manifest.flavour}"
        )
    entry = manifest.composition(composition)
    entry.artefacts.require("kernel", "initrd", flavour=flavour, source=manifest.source)
    kernel, initrd = Path(entry.artefacts.kernel or ""), Path(entry.artefacts.initrd or "")
    role_boot = {
        role: (Path(boot.kernel), Path(boot.initrd), boot.cmdline)
        for role, boot in (entry.artefacts.role_boot or {}).items()
    }
    for boot_kernel, boot_initrd, _ in [(kernel, initrd, ""), *role_boot.values()]:
        for what, path in (("kernel", boot_kernel), ("initrd", boot_initrd)):
            if not path.is_file():
                raise ManifestError(
                    f"{manifest.source}: {what} {path} does not exist (garbage-collected?); "
                    f"rebuild with 'nxc build -f {flavour}'"
                )
    systems = {role.name: role.system for role in entry.roles}
    return VmArtefacts(kernel, initrd, entry.artefacts.cmdline or "", systems, role_boot)


def kernel_append(cmdline: str) -> str:
    """The manifest's kernel command line with the serial console on ttyS0."""
    return cmdline if "console=ttyS0" in cmdline else f"{cmdline} console=ttyS0".strip()


def tail(path: Path, lines: int = CONSOLE_TAIL_LINES) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "").rstrip("\n").splitlines()[-lines:])


LOCAL_QEMU_FLAVOURS = registry.taking("qemu")
"""Flavours whose nodes are QEMUs on this machine: they share subnets and host ports."""


def _other_live(store: DeploymentStore, name: str) -> list[Deployment]:
    """Other active local QEMU deployments of the store (unreadable records are skipped)."""
    others = []
    for other_name in store.names():
        if other_name == name:
            continue
        try:
            other = store.load(other_name)
        except DeploymentRecordError:
            continue
        if other.is_active and other.flavour in LOCAL_QEMU_FLAVOURS:
            others.append(other)
    return others


def _resources_of_others(store: DeploymentStore, name: str) -> list[VmResources]:
    """The resources of the other active local QEMU deployments (a record whose resources do
    not fit is skipped, as an unreadable one is)."""
    found = []
    for other in _other_live(store, name):
        with contextlib.suppress(DeploymentRecordError):
            found.append(resources_of(VmResources, other))
    return found


def _ports_of(others: list[VmResources]) -> list[int]:
    """Every host port ``others`` hold."""
    return [port for other in others for port in other.ports]


class VmFlavour(Flavour):
    """Local QEMU VMs on a VDE switch (see the module documentation)."""

    name: ClassVar[str] = "vm"
    options_type: ClassVar[type[FlavourOptions]] = VmOptions
    options: VmOptions

    def __init__(self, options: VmOptions | None = None) -> None:
        """``options.kernel_params`` are appended to the kernel command line QEMU boots,
        ``options.qemu_options`` (one argument each) to QEMU's arguments."""
        super().__init__(options)
        self._tools: dict[str, str] = {}

    # --- tools ---------------------------------------------------------------------------

    def check_tools(self) -> None:
        """Find QEMU and vde_switch (and qemu-img when disks are asked for)."""
        self._tools["qemu"] = find_program(qemu.QEMU, qemu.QEMU_PACKAGE, "to run VMs")
        self._tools["vde_switch"] = find_program(
            vde.VDE_SWITCH, vde.VDE_PACKAGE, "for the VMs' network"
        )
        if self.options.disk_size:
            self._tools["qemu-img"] = find_program(
                qemu.QEMU_IMG, qemu.QEMU_IMG_PACKAGE, "to create the VMs' disks"
            )

    def _tool(self, name: str) -> str:
        if name not in self._tools:
            self.check_tools()
        return self._tools[name]

    # --- start ---------------------------------------------------------------------------

    def check_request(self, manifest: Manifest, composition: str, hostnames: list[str]) -> None:
        """A manifest of this flavour with boot files, memory for every node, forwards to
        known nodes."""
        vm_artefacts(manifest, composition, self.name)
        check_memory(len(hostnames), self.options.memory_mib)
        for forward in self.options.forward_rules:
            if forward.hostname not in hostnames:
                raise InputError.naming(
                    f"{{forwards}} {forward.hostname}:{forward.guest_port}: no node "
                    f"'{forward.hostname}' in this deployment (nodes: {', '.join(hostnames)})",
                    "forwards",
                )

    def ready_timeout(self, nodes: int) -> float:
        """How long start waits for every node: ``timeout``, else 120 s + 15 s per node."""
        timeout = self.options.timeout
        return timeout if timeout is not None else 120.0 + 15.0 * nodes

    def allocate(self, run: StartRun) -> None:
        """A marker, a subnet and host ports no other local deployment uses, the folders;
        each node's address, MAC and SSH forward."""
        deployment, store = run.deployment, run.store
        name, options = deployment.name, self.options
        self._artefacts = vm_artefacts(run.manifest, deployment.composition, self.name)
        accel = qemu.choose_accel(self._tool("qemu"), self._artefacts.kernel, options.accel)
        marker = processes.new_marker()
        others = _resources_of_others(store, name)
        subnet = netalloc.choose_subnet(
            name, (other.subnet for other in others if other.subnet is not None)
        )
        ports = netalloc.PortAllocator(_ports_of(others), start_offset=secrets.randbelow(5000))
        run_dir = processes.runtime_root() / marker
        addresses = netalloc.node_addresses(subnet, len(deployment.nodes))
        for node, allocated in zip(deployment.nodes, addresses, strict=True):
            node.address, node.mac = allocated.address, allocated.mac
            node.ssh_host, node.ssh_port = "127.0.0.1", ports.allocate()
            node.pid = None
            node.extra = {}
        forwards: dict[str, list[tuple[int, int]]] = {}
        for forward in options.forward_rules:
            host_port = ports.reserve(forward.host_port) if forward.host_port else ports.allocate()
            forwards.setdefault(forward.hostname, []).append((host_port, forward.guest_port))
        for hostname, rules in forwards.items():
            deployment.node(hostname).extra = VmNodeFacts(forwards=rules).to_record()
        resources = VmResources(
            marker=marker,
            run_dir=run_dir,
            secret_dir=store.secret_dir(name) / "nodes",
            shared_dir=store.state_dir(name).absolute() / "shared",
            subnet=subnet,
            accel=accel,
            memory_mib=options.memory_mib,
            cpus=options.cpus,
            kernel_params=options.kernel_params,
            qemu_options=options.qemu_options,
            disk_size=options.disk_size,
            ports=sorted(ports.handed_out),
            switch=SwitchFacts(dir=run_dir / "switch", pidfile=run_dir / "switch.pid"),
        )
        deployment.resources = resources.to_record()

    def allocate_added(self, run: StartRun) -> None:
        """Addresses, MACs and SSH ports no node of the deployment (nor another local one)
        uses, for the added nodes; they get the deployment's memory, CPUs, kernel parameters,
        QEMU options and disks, whatever this flavour was given."""
        deployment, store = run.deployment, run.store
        resources = resources_of(VmResources, deployment)
        self._artefacts = vm_artefacts(run.manifest, deployment.composition, self.name)
        self.options = self._with_machine_of(resources)
        if self.options.disk_size:
            self.check_tools()
        added = run.launching
        check_memory(len(added), self.options.memory_mib)
        room = resources.switch.ports
        if room is None:
            room = vde.switch_ports(0)
        if len(deployment.nodes) + len(deployment.failed_nodes) > room:
            raise ResourceLimitError(
                f"{deployment.name}: its network switch has room for {room} nodes and "
                f"{len(deployment.nodes) + len(deployment.failed_nodes)} would be on it; add "
                "fewer, or start the deployment again with more nodes"
            )
        others = _resources_of_others(store, deployment.name)
        ports = netalloc.PortAllocator(
            [*_ports_of(others), *resources.ports], start_offset=secrets.randbelow(5000)
        )
        kept = deployment.nodes + deployment.failed_nodes
        used = {node.address for node in kept if node.address}
        total = len(used) + len(added)
        subnet = recorded(resources.subnet, deployment, "resources.subnet")
        free = [a for a in netalloc.node_addresses(subnet, total) if a.address not in used]
        for node, allocated in zip(added, free, strict=False):
            node.address, node.mac = allocated.address, allocated.mac
            node.ssh_host, node.ssh_port = "127.0.0.1", ports.allocate()
            node.pid = None
            node.extra = {}
        resources.ports = sorted({*resources.ports, *ports.handed_out})
        deployment.resources = resources.to_record()

    def _with_machine_of(self, resources: VmResources) -> VmOptions:
        """These options with the deployment's memory, CPUs, kernel parameters, QEMU options
        and disk size, where its record has them (an older record has only some)."""
        machine: dict[str, Any] = {}
        if resources.memory_mib is not None:
            machine["memory"] = resources.memory_mib
        if resources.cpus is not None:
            machine["cpus"] = resources.cpus
        if resources.kernel_params is not None:  # recorded with the QEMU options and disk
            machine["kernel_params"] = resources.kernel_params
            machine["qemu_options"] = resources.qemu_options or ()
            machine["disk_size"] = resources.disk_size
        return self.options.replace(**machine)

    def info_extras(self, deployment: Deployment) -> InfoExtras:
        """Nodes find their entry by MAC, the shared folder is 9p; the info goes by fw_cfg
        (root-only on the guest: it may hold the deployment's root key)."""
        return InfoExtras(netalloc.PREFIX_LENGTH, {"type": "9p", "tag": SHARED_TAG})

    def prepare(self, run: StartRun) -> None:
        """The run, private and shared folders; the info and host keys as 0600 files; each
        node's disk and QEMU command line (in its ``extra``)."""
        deployment, store = run.deployment, run.store
        resources = resources_of(VmResources, deployment)
        marker = recorded(resources.marker, deployment, "resources.marker")
        if run.added is None:
            run_dir = processes.make_run_dir(marker)
        else:  # the deployment's, made when it started: checked, never made again
            run_dir = _checked_resources(deployment, store)[1] or processes.make_run_dir(marker)
        secret_dir = recorded(resources.secret_dir, deployment, "resources.secret_dir")
        secret_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        shared_dir = recorded(resources.shared_dir, deployment, "resources.shared_dir")
        shared_dir.mkdir(exist_ok=True)
        log_dir = store.log_dir(deployment.name).absolute()
        write_atomic(secret_dir / "info.json", json.dumps(run.info).encode(), mode=0o600)
        for node in run.launching:
            key = run.host_keys[node.hostname]
            write_atomic(secret_dir / f"{node.hostname}.host_key", key, mode=0o600)
            boot = self._artefacts.for_role(node.role)
            delivery = self.delivery(deployment, node, boot)
            disk = self._disk(store, deployment, node) if self.options.disk_size else None
            facts = node_facts_of(VmNodeFacts, deployment, node)
            spec = qemu.QemuNode(
                hostname=node.hostname,
                kernel=boot.kernel,
                initrd=boot.initrd,
                memory_mib=self.options.memory_mib,
                cpus=self.options.cpus,
                accel=recorded(resources.accel, deployment, "resources.accel"),
                console_log=log_dir / f"{node.hostname}.console.log",
                qmp_socket=run_dir / f"{node.hostname}.qmp",
                switch_dir=run_dir / "switch",
                mac=node.mac or "",
                ssh_port=node.ssh_port,
                marker=marker,
                shared_dir=shared_dir,
                shared_tag=SHARED_TAG,
                forwards=tuple(facts.forwards or ()),
                disk=disk,
                extra=self.options.qemu_options,
                **delivery,
            )
            facts.argv = qemu.command_line(self._tool("qemu"), spec)
            facts.console_log = spec.console_log
            facts.qemu_log = log_dir / f"{node.hostname}.qemu.log"
            facts.qmp_socket = spec.qmp_socket
            if disk is not None:
                facts.disk = disk
            node.extra = facts.to_record()

    def _disk(self, store: DeploymentStore, deployment: Deployment, node: Node) -> Path:
        disk_dir = store.state_dir(deployment.name).absolute() / "disks"
        disk_dir.mkdir(exist_ok=True)
        disk = disk_dir / f"{node.hostname}.qcow2"
        qemu.create_disk(self._tool("qemu-img"), disk, self.options.disk_size or "")
        return disk

    def delivery(
        self, deployment: Deployment, node: Node, artefacts: VmArtefacts
    ) -> dict[str, Any]:
        """How ``node`` gets its command line, info, host key and store (:class:`QemuNode`
        fields): here the fw_cfg files of the private folder, the host's store over 9p."""
        secret_dir = recorded_secret_dir(deployment)
        return {
            "append": " ".join([kernel_append(artefacts.cmdline), *self.options.kernel_params]),
            "info_file": secret_dir / "info.json",
            "host_key_file": secret_dir / f"{node.hostname}.host_key",
            "store_dir": NIX_STORE if NIX_STORE.is_dir() else None,
        }

    def launch(self, run: StartRun, nodes: list[Node]) -> dict[str, str]:
        """The switch (once), then every node's QEMU with its recorded command line."""
        deployment = run.deployment
        resources = resources_of(VmResources, deployment)
        switch = resources.switch
        if not switch.pid:
            switch.pid = vde.start_switch(
                self._tool("vde_switch"),
                recorded(switch.dir, deployment, "resources.switch.dir"),
                recorded(switch.pidfile, deployment, "resources.switch.pidfile"),
                len(deployment.nodes),
            )
            switch.pid_start = processes.identity(switch.pid)
            switch.ports = vde.switch_ports(len(deployment.nodes))
            deployment.resources = resources.to_record()
            run.store.save(deployment)
        for node in nodes:
            facts = node_facts_of(VmNodeFacts, deployment, node)
            argv = _of_node(facts.argv, deployment, node, "argv")
            node.pid = _spawn(
                argv, _of_node(facts.qemu_log, deployment, node, "qemu_log"), fresh=True
            )
            facts.pid_start = processes.identity(node.pid)
            node.extra = facts.to_record()
            node.state = NodeState.launching
            run.progress(node.hostname, Stage.LAUNCHED)
        return {}

    async def readiness(
        self, deployment: Deployment, node: Node, booted: bool, remaining: float
    ) -> Readiness:
        """Failed if its QEMU exited; booted once the console says so; ready when SSH answers
        with the pinned key."""
        facts = node_facts_of(VmNodeFacts, deployment, node)
        console_log = _of_node(facts.console_log, deployment, node, "console_log")
        if _exited(node.pid, _marker(deployment)):
            qemu_log = _of_node(facts.qemu_log, deployment, node, "qemu_log")
            last_lines = tail(qemu_log) or tail(console_log)
            raise ExternalCommandError(
                f"QEMU of {node.hostname} exited before the node was ready "
                f"({_exit_status(node.pid)}):\n"
                f"{last_lines or '(nothing in its log or on its console)'}",
                qemu_log,
            )
        ready_line = f"nxc-ready {node.hostname}".encode()
        booted = booted or _contains(console_log, ready_line)
        # Before the console says sshd runs, a handshake may hang in QEMU's user network
        # (guest NIC not configured yet): retry often. Afterwards give a loaded guest time.
        attempt = SSH_ATTEMPT_READY if booted else SSH_ATTEMPT_BOOTING
        return await ssh_readiness(node, booted, min(attempt, remaining))

    def node_details(self, deployment: Deployment, hostname: str) -> str:
        """The last lines of the node's console, and where the whole log is."""
        console = self.console_log(deployment, hostname)
        return f"{tail(console) or '(console log is empty)'}\n(console log: {console})"

    def not_ready_hint(self, deployment: Deployment) -> str:
        """Where the consoles are."""
        folder = self.console_log(deployment, deployment.nodes[0].hostname).parent
        return f"every node's console log is in {folder}"

    # --- stop ----------------------------------------------------------------------------

    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        """Kill the recorded QEMUs and switch (only if still ours), remove sockets and secrets;
        return once every one of those processes has exited.

        Every value used to kill or remove is checked first (:func:`_checked_resources`):
        a record naming anything nxc did not make is refused before anything is touched.
        """
        switch = resources_of(VmResources, deployment).switch
        marker, run_dir, secret_dir = _checked_resources(deployment, store)
        grace = 0.0 if force else 3.0
        if marker:
            started = _started(deployment, deployment.nodes)
            # Processes launched just before a SIGKILL of 'nxc start' may not be recorded
            # yet: they carry the marker too.
            stray = [p for p in processes.find_marked(marker) if p != switch.pid]
            processes.terminate([*started, *stray], marker, grace=grace, started=started)
            switch_started = {switch.pid: switch.pid_start} if switch.pid else {}
            pidfile = run_dir / "switch.pid" if run_dir else None
            if pidfile and pidfile.is_file() and pidfile.read_text().strip().isdigit():
                switch_started.setdefault(int(pidfile.read_text().strip()), None)
            processes.terminate(
                [*switch_started, *processes.find_marked(marker)],
                marker,
                grace=grace,
                started=switch_started,
            )
        for folder in (run_dir, secret_dir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        for node in deployment.nodes:
            node.state = NodeState.stopped
            node.pid = None
        deployment.state = DeploymentState.stopped
        store.save(deployment)

    def remove_nodes(
        self, deployment: Deployment, store: DeploymentStore, nodes: list[Node]
    ) -> None:
        """Kill the QEMUs of ``nodes`` (only if still ours) and remove their host keys, disks
        and sockets; the switch and the other nodes run on."""
        marker, run_dir, secret_dir = _checked_resources(deployment, store)
        for node in nodes:
            if not is_hostname(node.hostname):
                raise UnsafeRecordError(
                    f"{store.path_for(deployment.name)}: node {node.hostname!r} is not a "
                    "hostname, so nxc touches nothing of it; restore the record"
                )
        started = _started(deployment, nodes)
        if marker and started:
            processes.terminate(list(started), marker, grace=3.0, started=started)
        disk_dir = store.state_dir(deployment.name).absolute() / "disks"
        for node in nodes:
            made = [disk_dir / f"{node.hostname}.qcow2"]
            if secret_dir is not None:
                made.append(secret_dir / f"{node.hostname}.host_key")
            if run_dir is not None:
                made.append(run_dir / f"{node.hostname}.qmp")
            for path in made:
                path.unlink(missing_ok=True)
            node.state = NodeState.stopped
            node.pid = None

    # --- probe and lifecycle -------------------------------------------------------------

    def probe(self, deployment: Deployment) -> dict[str, LiveState]:
        """Dead if its QEMU is gone, ready if SSH answers with the pinned key, else running."""
        marker = _marker(deployment)

        async def probe(node: Node) -> LiveState:
            if not processes.is_ours(node.pid, marker):
                return LiveState.DEAD
            answer = await ssh_answer(
                node.ssh_host, node.ssh_port, node.host_key or "", timeout=PROBE_TIMEOUT
            )
            return LiveState.READY if answer is SshAnswer.PINNED else LiveState.RUNNING

        return asyncio.run(probe_all(deployment.nodes, probe))

    def start_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Relaunch a node whose QEMU is not running, with its recorded command line."""
        node = deployment.node(hostname)
        if processes.is_ours(node.pid, _marker(deployment)):
            return
        facts = node_facts_of(VmNodeFacts, deployment, node)
        if not facts.argv or deployment.state == DeploymentState.stopped:
            raise InputError(
                f"{hostname} of {deployment.name} cannot be restarted: the deployment is "
                "stopped; start it again with 'nxc start'"
            )
        _of_node(facts.qmp_socket, deployment, node, "qmp_socket").unlink(missing_ok=True)
        with store.lock(deployment.name):
            node.pid = _spawn(facts.argv, _of_node(facts.qemu_log, deployment, node, "qemu_log"))
            facts.pid_start = processes.identity(node.pid)
            node.extra = facts.to_record()
            node.state = NodeState.launching
            store.save(deployment)
        missing = self.await_ready(deployment, [node])
        if missing:
            raise self.not_ready_error(deployment, missing, nodes_waited=1)
        store.save(deployment)

    def shutdown_node(
        self, deployment: Deployment, store: DeploymentStore, hostname: str, timeout: float = 60.0
    ) -> None:
        """Power the node off from inside (``poweroff`` over SSH, and an ACPI power button
        press through QMP for guests that listen to it); killed after ``timeout`` seconds."""
        node = deployment.node(hostname)
        marker = _marker(deployment)
        if processes.is_ours(node.pid, marker):
            # A QEMU already exiting may not answer: the wait below settles it either way.
            with contextlib.suppress(ExternalCommandError):
                qmp_command(_qmp_socket(deployment, node), "system_powerdown")
            _poweroff_over_ssh(deployment, store, node, timeout=min(timeout, 15.0))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and processes.is_ours(node.pid, marker):
                time.sleep(0.2)
            processes.terminate([node.pid] if node.pid else [], marker, grace=3.0)
        self._mark(deployment, store, node, NodeState.stopped)

    def crash_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Kill the node's QEMU at once (SIGKILL), like pulling the plug."""
        node = deployment.node(hostname)
        processes.terminate([node.pid] if node.pid else [], _marker(deployment), grace=0.0)
        self._mark(deployment, store, node, NodeState.dead)

    def block_node(self, deployment: Deployment, hostname: str) -> None:
        """Take the node's inter-node link down (host SSH access stays up)."""
        self._set_link(deployment, hostname, up=False)

    def unblock_node(self, deployment: Deployment, hostname: str) -> None:
        """Bring the node's inter-node link back up."""
        self._set_link(deployment, hostname, up=True)

    @property
    def kernel_params(self) -> tuple[str, ...]:
        """The extra kernel parameters QEMU appends to the build's command line."""
        return self.options.kernel_params

    def console_log(self, deployment: Deployment, hostname: str) -> Path:
        """The node's serial console log."""
        node = deployment.node(hostname)
        facts = node_facts_of(VmNodeFacts, deployment, node)
        return _of_node(facts.console_log, deployment, node, "console_log")

    def _set_link(self, deployment: Deployment, hostname: str, up: bool) -> None:
        node = deployment.node(hostname)
        if not processes.is_ours(node.pid, _marker(deployment)):
            raise InputError(f"{hostname} is not running; start it before (un)blocking it")
        qmp_command(_qmp_socket(deployment, node), "set_link", {"name": qemu.LAN_NETDEV, "up": up})

    @staticmethod
    def _mark(deployment: Deployment, store: DeploymentStore, node: Node, state: NodeState) -> None:
        with store.lock(deployment.name):
            node.state = state
            node.pid = None
            store.save(deployment)


def _marker(deployment: Deployment) -> str:
    """The deployment's recorded marker ('' if none: then no process is ours)."""
    return resources_of(VmResources, deployment).marker or ""


def _of_node(value: T | None, deployment: Deployment, node: Node, key: str) -> T:
    """``value``, read from ``key`` of ``node``'s extras; :class:`DeploymentRecordError`
    naming it when the record lacks it."""
    return recorded(value, deployment, f"nodes[{node.hostname}].extra.{key}")


def _qmp_socket(deployment: Deployment, node: Node) -> Path:
    """The node's recorded QMP socket."""
    facts = node_facts_of(VmNodeFacts, deployment, node)
    return _of_node(facts.qmp_socket, deployment, node, "qmp_socket")


def _started(deployment: Deployment, nodes: list[Node]) -> dict[int, str | None]:
    """The recorded pid of each of ``nodes`` that has one, and its identity at launch."""
    return {
        node.pid: node_facts_of(VmNodeFacts, deployment, node).pid_start
        for node in nodes
        if node.pid
    }


def _checked_resources(
    deployment: Deployment, store: DeploymentStore
) -> tuple[str, Path | None, Path | None]:
    """The marker, run folder and private folder stop may act on, each checked to be what nxc
    makes; :class:`UnsafeRecordError` (nothing touched) otherwise.

    A record without a marker (stopped before anything ran) gives ``("", None, ...)``.
    """
    resources = resources_of(VmResources, deployment)
    where = str(store.path_for(deployment.name))
    marker = resources.marker
    run_dir = None
    if marker is not None or resources.run_dir is not None:
        marker = processes.check_marker(marker, where)
        if resources.run_dir is not None:
            run_dir = processes.check_run_dir(str(resources.run_dir), marker, where)
    secret_dir = resources.secret_dir
    expected = store.secrets_dir / deployment.name / "nodes"
    if secret_dir is not None and secret_dir != expected:
        raise UnsafeRecordError(
            f"{where}: resources.secret_dir {str(secret_dir)!r} is not this deployment's "
            f"private folder ({expected}), so nxc stop touches nothing; restore the record, or "
            "remove it with 'nxc clean --force' after stopping its processes by hand"
        )
    if secret_dir is not None and (expected.is_symlink() or not expected.is_dir()):
        secret_dir = None  # gone already (or a link planted there: never followed)
    return marker or "", run_dir, expected if secret_dir is not None else None


def _poweroff_over_ssh(
    deployment: Deployment, store: DeploymentStore, node: Node, timeout: float
) -> None:
    """Ask the node to power off; the SSH session may die with it, so failures are ignored."""
    argv = keys.ssh_argv(
        node,
        store.client_key_path(deployment.name),
        store.known_hosts_path(deployment.name),
        "poweroff",
        batch=True,
        extra_options=["-o", f"ConnectTimeout={max(int(timeout), 1)}"],
    )
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        subprocess.run(argv, capture_output=True, timeout=timeout, check=False)


def _spawn(argv: list[str], log: Path, fresh: bool = False) -> int:
    """Start ``argv`` detached (own session, no terminal), output to ``log``; its pid.

    A ``fresh`` start empties the log (messages of an earlier deployment would mislead);
    a restart of the same node appends to it.
    """
    with log.open("wb" if fresh else "ab") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    return process.pid


_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
"""QEMUs started by this process, kept so that their exit is collected (no zombies)."""


def _exited(pid: int | None, marker: str) -> bool:
    # A QEMU this process started: the kernel's wait status is the truth (a /proc read of a
    # busy process's command line can come back empty and falsely say it is gone).
    child = _CHILDREN.get(pid) if pid else None
    if child is not None:
        return child.poll() is not None
    return not processes.is_ours(pid, marker)


def _exit_status(pid: int | None) -> str:
    """How a QEMU this process started ended, as far as it can be known."""
    process = _CHILDREN.get(pid) if pid else None
    code = process.returncode if process is not None else None
    if code is None:
        return "it is no longer running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


def _contains(path: Path, needle: bytes) -> bool:
    try:
        return needle in path.read_bytes()
    except OSError:
        return False
