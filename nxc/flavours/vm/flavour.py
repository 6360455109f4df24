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
import math
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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
from nxc.flavours.common.readiness import Readiness, probe_all
from nxc.flavours.common.sshready import SshAnswer, other_key_error, ssh_answer
from nxc.flavours.g5k import kexec
from nxc.flavours.vm import qemu, vde
from nxc.flavours.vm.qmp import qmp_command
from nxc.roles import is_hostname

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node
    from nxc.manifest import Manifest

NIX_STORE = Path("/nix/store")
"""Shared read-only with every guest when it exists (a NixOS guest needs it; the test bed does not)."""
SHARED_TAG = "nxcshared"
DEFAULT_MEMORY = "1024M"
"""What nixpkgs' own VMs get (qemu-vm.nix memorySize) and NixOS-Compose uses: NixOS needs it."""
CONSOLE_TAIL_LINES = 15
MAX_CPUS = 255
"""The most virtual CPUs QEMU's default machine type takes."""
DISK_SIZE = re.compile(r"[1-9][0-9]*[KMGT]?", re.IGNORECASE)
SSH_ATTEMPT_BOOTING = 5.0
SSH_ATTEMPT_READY = 20.0
PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Forward:
    """A user port forward: host ``127.0.0.1:host_port`` → ``hostname:guest_port``."""

    hostname: str
    guest_port: int
    host_port: int | None = None


def parse_forward(spec: str) -> Forward:
    """Read ``NODE:GUEST_PORT[:HOST_PORT]`` (``--forward node1:8080`` or ``node1:80:8080``)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not all(p.isdigit() for p in parts[1:]):
        raise InputError.naming(
            f"{{forwards}} '{spec}' is not NODE:GUEST_PORT[:HOST_PORT]; e.g. node1:8080",
            "forwards",
        )
    ports = [int(p) for p in parts[1:]]
    if not all(1 <= p <= 65535 for p in ports):
        raise InputError.naming(
            f"{{forwards}} '{spec}': ports must be between 1 and 65535", "forwards"
        )
    return Forward(parts[0], ports[0], ports[1] if len(ports) == 2 else None)


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


class VmFlavour(Flavour):
    """Local QEMU VMs on a VDE switch (see the module documentation)."""

    name: ClassVar[str] = "vm"

    def __init__(
        self,
        accel: str | None = None,
        memory: str | int = DEFAULT_MEMORY,
        cpus: int = 1,
        forwards: Iterable[str] = (),
        disk_size: str | None = None,
        timeout: float | None = None,
        kernel_params: Sequence[str] = (),
        qemu_options: Sequence[str] = (),
    ) -> None:
        """``kernel_params`` are appended to the kernel command line QEMU boots,
        ``qemu_options`` (one argument each) to QEMU's arguments; both checked first."""
        if accel is not None and accel not in qemu.ACCELS:
            raise InputError.naming(
                f"{{accel}} '{accel}' is unknown; give one of {', '.join(qemu.ACCELS)}", "accel"
            )
        if not 1 <= cpus <= MAX_CPUS:
            raise InputError.naming(f"{{cpus}} {cpus} must be between 1 and {MAX_CPUS}", "cpus")
        if disk_size is not None and not DISK_SIZE.fullmatch(disk_size):
            raise InputError.naming(
                f"{{disk_size}} {disk_size!r} is not a size; write a number with an optional "
                "K, M, G or T suffix, e.g. 2G",
                "disk_size",
            )
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise InputError.naming(
                f"{{timeout}} {timeout:g}: must be a positive number of seconds", "timeout"
            )
        self.accel = accel
        self.memory_mib = qemu.parse_memory(memory)
        self.cpus = cpus
        self.forwards = [parse_forward(spec) for spec in forwards]
        self.disk_size = disk_size
        self.timeout = timeout
        self.kernel_params = kexec.user_kernel_params(kernel_params)
        self.qemu_options = qemu.user_qemu_options(qemu_options)
        self._tools: dict[str, str] = {}

    # --- tools ---------------------------------------------------------------------------

    def check_tools(self) -> None:
        """Find QEMU and vde_switch (and qemu-img when disks are asked for)."""
        self._tools["qemu"] = qemu.find_program(qemu.QEMU, qemu.QEMU_PACKAGE, "to run VMs")
        self._tools["vde_switch"] = qemu.find_program(
            vde.VDE_SWITCH, vde.VDE_PACKAGE, "for the VMs' network"
        )
        if self.disk_size:
            self._tools["qemu-img"] = qemu.find_program(
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
        check_memory(len(hostnames), self.memory_mib)
        for forward in self.forwards:
            if forward.hostname not in hostnames:
                raise InputError.naming(
                    f"{{forwards}} {forward.hostname}:{forward.guest_port}: no node "
                    f"'{forward.hostname}' in this deployment (nodes: {', '.join(hostnames)})",
                    "forwards",
                )

    def ready_timeout(self, nodes: int) -> float:
        """How long start waits for every node: ``timeout``, else 120 s + 15 s per node."""
        return self.timeout if self.timeout is not None else 120.0 + 15.0 * nodes

    def allocate(self, run: StartRun) -> None:
        """A marker, a subnet and host ports no other local deployment uses, the folders;
        each node's address, MAC and SSH forward."""
        deployment, store = run.deployment, run.store
        name = deployment.name
        self._artefacts = vm_artefacts(run.manifest, deployment.composition, self.name)
        accel = qemu.choose_accel(self._tool("qemu"), self._artefacts.kernel, self.accel)
        marker = processes.new_marker()
        others = _other_live(store, name)
        subnet = netalloc.choose_subnet(
            name, (o.resources.get("subnet", 0) for o in others if o.resources)
        )
        taken_ports = [port for o in others for port in o.resources.get("ports", [])]
        ports = netalloc.PortAllocator(taken_ports, start_offset=secrets.randbelow(5000))
        run_dir = processes.runtime_root() / marker
        deployment.resources = {
            "marker": marker,
            "run_dir": str(run_dir),
            "secret_dir": str(store.secret_dir(name) / "nodes"),
            "shared_dir": str(store.state_dir(name).absolute() / "shared"),
            "subnet": subnet,
            "accel": accel,
            "memory_mib": self.memory_mib,
            "cpus": self.cpus,
            "kernel_params": list(self.kernel_params),
            "qemu_options": list(self.qemu_options),
            "disk_size": self.disk_size,
            "ports": [],
            "switch": {"dir": str(run_dir / "switch"), "pidfile": str(run_dir / "switch.pid")},
        }
        addresses = netalloc.node_addresses(subnet, len(deployment.nodes))
        for node, allocated in zip(deployment.nodes, addresses, strict=True):
            node.address, node.mac = allocated.address, allocated.mac
            node.ssh_host, node.ssh_port = "127.0.0.1", ports.allocate()
            node.pid = None
            node.extra = {}
        for forward in self.forwards:
            host_port = ports.reserve(forward.host_port) if forward.host_port else ports.allocate()
            deployment.node(forward.hostname).extra.setdefault("forwards", []).append(
                [host_port, forward.guest_port]
            )
        deployment.resources["ports"] = sorted(ports.handed_out)

    def allocate_added(self, run: StartRun) -> None:
        """Addresses, MACs and SSH ports no node of the deployment (nor another local one)
        uses, for the added nodes; they get the deployment's memory, CPUs, kernel parameters,
        QEMU options and disks, whatever this flavour was given."""
        deployment, store = run.deployment, run.store
        resources = deployment.resources
        self._artefacts = vm_artefacts(run.manifest, deployment.composition, self.name)
        self.memory_mib = resources.get("memory_mib", self.memory_mib)
        self.cpus = resources.get("cpus", self.cpus)
        self.kernel_params = tuple(resources.get("kernel_params", self.kernel_params))
        self.qemu_options = tuple(resources.get("qemu_options", self.qemu_options))
        self.disk_size = resources.get("disk_size", self.disk_size)
        if self.disk_size:
            self.check_tools()
        added = run.launching
        check_memory(len(added), self.memory_mib)
        room = resources["switch"].get("ports", vde.switch_ports(0))
        if len(deployment.nodes) + len(deployment.failed_nodes) > room:
            raise ResourceLimitError(
                f"{deployment.name}: its network switch has room for {room} nodes and "
                f"{len(deployment.nodes) + len(deployment.failed_nodes)} would be on it; add "
                "fewer, or start the deployment again with more nodes"
            )
        others = _other_live(store, deployment.name)
        taken_ports = [port for o in others for port in o.resources.get("ports", [])]
        ports = netalloc.PortAllocator(
            [*taken_ports, *resources["ports"]], start_offset=secrets.randbelow(5000)
        )
        kept = deployment.nodes + deployment.failed_nodes
        used = {node.address for node in kept if node.address}
        total = len(used) + len(added)
        free = [
            a for a in netalloc.node_addresses(resources["subnet"], total) if a.address not in used
        ]
        for node, allocated in zip(added, free, strict=False):
            node.address, node.mac = allocated.address, allocated.mac
            node.ssh_host, node.ssh_port = "127.0.0.1", ports.allocate()
            node.pid = None
            node.extra = {}
        resources["ports"] = sorted({*resources["ports"], *ports.handed_out})

    def info_extras(self, deployment: Deployment) -> InfoExtras:
        """Nodes find their entry by MAC, the shared folder is 9p; the info goes by fw_cfg
        (root-only on the guest: it may hold the deployment's root key)."""
        return InfoExtras(netalloc.PREFIX_LENGTH, {"type": "9p", "tag": SHARED_TAG})

    def prepare(self, run: StartRun) -> None:
        """The run, private and shared folders; the info and host keys as 0600 files; each
        node's disk and QEMU command line (in its ``extra``)."""
        deployment, store = run.deployment, run.store
        resources = deployment.resources
        marker = resources["marker"]
        if run.added is None:
            run_dir = processes.make_run_dir(marker)
        else:  # the deployment's, made when it started: checked, never made again
            run_dir = _checked_resources(deployment, store)[1] or processes.make_run_dir(marker)
        secret_dir = Path(resources["secret_dir"])
        secret_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        shared_dir = Path(resources["shared_dir"])
        shared_dir.mkdir(exist_ok=True)
        log_dir = store.log_dir(deployment.name).absolute()
        write_atomic(secret_dir / "info.json", json.dumps(run.info).encode(), mode=0o600)
        for node in run.launching:
            key = run.host_keys[node.hostname]
            write_atomic(secret_dir / f"{node.hostname}.host_key", key, mode=0o600)
            boot = self._artefacts.for_role(node.role)
            delivery = self.delivery(deployment, node, boot)
            disk = self._disk(store, deployment, node) if self.disk_size else None
            spec = qemu.QemuNode(
                hostname=node.hostname,
                kernel=boot.kernel,
                initrd=boot.initrd,
                memory_mib=self.memory_mib,
                cpus=self.cpus,
                accel=resources["accel"],
                console_log=log_dir / f"{node.hostname}.console.log",
                qmp_socket=run_dir / f"{node.hostname}.qmp",
                switch_dir=run_dir / "switch",
                mac=node.mac or "",
                ssh_port=node.ssh_port,
                marker=marker,
                shared_dir=shared_dir,
                shared_tag=SHARED_TAG,
                forwards=tuple((h, g) for h, g in node.extra.get("forwards", [])),
                disk=disk,
                extra=self.qemu_options,
                **delivery,
            )
            node.extra.update(
                {
                    "argv": qemu.command_line(self._tool("qemu"), spec),
                    "console_log": str(spec.console_log),
                    "qemu_log": str(log_dir / f"{node.hostname}.qemu.log"),
                    "qmp_socket": str(spec.qmp_socket),
                }
            )
            if disk is not None:
                node.extra["disk"] = str(disk)

    def _disk(self, store: DeploymentStore, deployment: Deployment, node: Node) -> Path:
        disk_dir = store.state_dir(deployment.name).absolute() / "disks"
        disk_dir.mkdir(exist_ok=True)
        disk = disk_dir / f"{node.hostname}.qcow2"
        qemu.create_disk(self._tool("qemu-img"), disk, self.disk_size or "")
        return disk

    def delivery(
        self, deployment: Deployment, node: Node, artefacts: VmArtefacts
    ) -> dict[str, Any]:
        """How ``node`` gets its command line, info, host key and store (:class:`QemuNode`
        fields): here the fw_cfg files of the private folder, the host's store over 9p."""
        secret_dir = Path(deployment.resources["secret_dir"])
        return {
            "append": " ".join([kernel_append(artefacts.cmdline), *self.kernel_params]),
            "info_file": secret_dir / "info.json",
            "host_key_file": secret_dir / f"{node.hostname}.host_key",
            "store_dir": NIX_STORE if NIX_STORE.is_dir() else None,
        }

    def launch(self, run: StartRun, nodes: list[Node]) -> dict[str, str]:
        """The switch (once), then every node's QEMU with its recorded command line."""
        deployment = run.deployment
        switch = deployment.resources["switch"]
        if not switch.get("pid"):
            switch["pid"] = vde.start_switch(
                self._tool("vde_switch"),
                Path(switch["dir"]),
                Path(switch["pidfile"]),
                len(deployment.nodes),
            )
            switch["pid_start"] = processes.identity(switch["pid"])
            switch["ports"] = vde.switch_ports(len(deployment.nodes))
            run.store.save(deployment)
        for node in nodes:
            node.pid = _spawn(node.extra["argv"], Path(node.extra["qemu_log"]), fresh=True)
            node.extra["pid_start"] = processes.identity(node.pid)
            node.state = NodeState.launching
            run.progress(node.hostname, Stage.LAUNCHED)
        return {}

    async def readiness(
        self, deployment: Deployment, node: Node, booted: bool, remaining: float
    ) -> Readiness:
        """Failed if its QEMU exited; booted once the console says so; ready when SSH answers
        with the pinned key."""
        if _exited(node.pid, deployment.resources.get("marker", "")):
            last_lines = tail(Path(node.extra["qemu_log"])) or tail(Path(node.extra["console_log"]))
            raise ExternalCommandError(
                f"QEMU of {node.hostname} exited before the node was ready "
                f"({_exit_status(node.pid)}):\n"
                f"{last_lines or '(nothing in its log or on its console)'}",
                Path(node.extra["qemu_log"]),
            )
        ready_line = f"nxc-ready {node.hostname}".encode()
        booted = booted or _contains(Path(node.extra["console_log"]), ready_line)
        # Before the console says sshd runs, a handshake may hang in QEMU's user network
        # (guest NIC not configured yet): retry often. Afterwards give a loaded guest time.
        attempt = SSH_ATTEMPT_READY if booted else SSH_ATTEMPT_BOOTING
        answer = await ssh_answer(
            node.ssh_host, node.ssh_port, node.host_key or "", timeout=min(attempt, remaining)
        )
        if answer is SshAnswer.OTHER_KEY:
            raise other_key_error(node.hostname, node.ssh_host, node.ssh_port)
        if answer is SshAnswer.PINNED:
            return Readiness.READY
        return Readiness.BOOTED if booted else Readiness.WAITING

    def node_details(self, deployment: Deployment, hostname: str) -> str:
        """The last lines of the node's console, and where the whole log is."""
        console = Path(deployment.node(hostname).extra["console_log"])
        return f"{tail(console) or '(console log is empty)'}\n(console log: {console})"

    def not_ready_hint(self, deployment: Deployment) -> str:
        """Where the consoles are."""
        folder = Path(deployment.node(deployment.nodes[0].hostname).extra["console_log"]).parent
        return f"every node's console log is in {folder}"

    # --- stop ----------------------------------------------------------------------------

    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        """Kill the recorded QEMUs and switch (only if still ours), remove sockets and secrets;
        return once every one of those processes has exited.

        Every value used to kill or remove is checked first (:func:`_checked_resources`):
        a record naming anything nxc did not make is refused before anything is touched.
        """
        resources = deployment.resources or {}
        marker, run_dir, secret_dir = _checked_resources(deployment, store)
        grace = 0.0 if force else 3.0
        if marker:
            started = {
                node.pid: node.extra.get("pid_start") for node in deployment.nodes if node.pid
            }
            # Processes launched just before a SIGKILL of 'nxc start' may not be recorded
            # yet: they carry the marker too.
            switch = resources.get("switch") or {}
            switch_pid = switch.get("pid")
            stray = [p for p in processes.find_marked(marker) if p != switch_pid]
            processes.terminate([*started, *stray], marker, grace=grace, started=started)
            switch_started = {switch_pid: switch.get("pid_start")} if switch_pid else {}
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
        started = {node.pid: node.extra.get("pid_start") for node in nodes if node.pid}
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
        marker = (deployment.resources or {}).get("marker", "")

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
        marker = deployment.resources.get("marker", "")
        if processes.is_ours(node.pid, marker):
            return
        argv = node.extra.get("argv")
        if not argv or deployment.state == DeploymentState.stopped:
            raise InputError(
                f"{hostname} of {deployment.name} cannot be restarted: the deployment is "
                "stopped; start it again with 'nxc start'"
            )
        Path(node.extra["qmp_socket"]).unlink(missing_ok=True)
        with store.lock(deployment.name):
            node.pid = _spawn(argv, Path(node.extra["qemu_log"]))
            node.extra["pid_start"] = processes.identity(node.pid)
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
        marker = deployment.resources.get("marker", "")
        if processes.is_ours(node.pid, marker):
            # A QEMU already exiting may not answer: the wait below settles it either way.
            with contextlib.suppress(ExternalCommandError):
                qmp_command(Path(node.extra["qmp_socket"]), "system_powerdown")
            _poweroff_over_ssh(deployment, store, node, timeout=min(timeout, 15.0))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and processes.is_ours(node.pid, marker):
                time.sleep(0.2)
            processes.terminate([node.pid] if node.pid else [], marker, grace=3.0)
        self._mark(deployment, store, node, NodeState.stopped)

    def crash_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Kill the node's QEMU at once (SIGKILL), like pulling the plug."""
        node = deployment.node(hostname)
        marker = deployment.resources.get("marker", "")
        processes.terminate([node.pid] if node.pid else [], marker, grace=0.0)
        self._mark(deployment, store, node, NodeState.dead)

    def block_node(self, deployment: Deployment, hostname: str) -> None:
        """Take the node's inter-node link down (host SSH access stays up)."""
        self._set_link(deployment, hostname, up=False)

    def unblock_node(self, deployment: Deployment, hostname: str) -> None:
        """Bring the node's inter-node link back up."""
        self._set_link(deployment, hostname, up=True)

    def console_log(self, deployment: Deployment, hostname: str) -> Path:
        """The node's serial console log."""
        return Path(deployment.node(hostname).extra["console_log"])

    def _set_link(self, deployment: Deployment, hostname: str, up: bool) -> None:
        node = deployment.node(hostname)
        if not processes.is_ours(node.pid, deployment.resources.get("marker", "")):
            raise InputError(f"{hostname} is not running; start it before (un)blocking it")
        qmp_command(Path(node.extra["qmp_socket"]), "set_link", {"name": qemu.LAN_NETDEV, "up": up})

    @staticmethod
    def _mark(deployment: Deployment, store: DeploymentStore, node: Node, state: NodeState) -> None:
        with store.lock(deployment.name):
            node.state = state
            node.pid = None
            store.save(deployment)


def _checked_resources(
    deployment: Deployment, store: DeploymentStore
) -> tuple[str, Path | None, Path | None]:
    """The marker, run folder and private folder stop may act on, each checked to be what nxc
    makes; :class:`UnsafeRecordError` (nothing touched) otherwise.

    A record without a marker (stopped before anything ran) gives ``("", None, ...)``.
    """
    resources = deployment.resources or {}
    where = str(store.path_for(deployment.name))
    marker = resources.get("marker")
    run_dir = None
    if marker is not None or resources.get("run_dir") is not None:
        marker = processes.check_marker(marker, where)
        if resources.get("run_dir") is not None:
            run_dir = processes.check_run_dir(resources["run_dir"], marker, where)
    secret_dir = resources.get("secret_dir")
    expected = store.secrets_dir / deployment.name / "nodes"
    if secret_dir is not None and Path(secret_dir) != expected:
        raise UnsafeRecordError(
            f"{where}: resources.secret_dir {secret_dir!r} is not this deployment's private "
            f"folder ({expected}), so nxc stop touches nothing; restore the record, or remove "
            "it with 'nxc clean --force' after stopping its processes by hand"
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
