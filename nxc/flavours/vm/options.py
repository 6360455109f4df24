"""The options of the local QEMU flavours: :class:`VmOptions` (``vm``) and
:class:`VmRamdiskOptions` (``vm-ramdisk``), each checked when made.

What ``nxc start -f vm --memory 2G`` and ``nxc.start(..., memory="2G")`` set; the flavour
reads them as ``flavour.options``. Values given as any sequence (``forwards``,
``kernel_params``, ``qemu_options``) are kept as tuples, the kernel parameters split into
words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nxc.errors import InputError
from nxc.flavours.g5k import kexec
from nxc.flavours.options import FlavourOptions
from nxc.flavours.vm import qemu

DEFAULT_MEMORY = "1024M"
"""What nixpkgs' own VMs get (qemu-vm.nix memorySize) and NixOS-Compose uses: NixOS needs it."""
RAMDISK_DEFAULT_MEMORY = "2048M"
"""vm-ramdisk's: the store lives in RAM (the initrd's squashfs of every role's system, and the
tmpfs root)."""
MAX_CPUS = 255
"""The most virtual CPUs QEMU's default machine type takes."""
DISK_SIZE = re.compile(r"[1-9][0-9]*[KMGT]?", re.IGNORECASE)


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


@dataclass(frozen=True)
class VmOptions(FlavourOptions):
    """What every node's QEMU of a ``vm`` deployment gets, and the forwards to its nodes."""

    accel: str | None = None
    """``kvm`` or ``tcg`` (None: KVM when it really boots a guest, see :mod:`.qemu`)."""
    memory: str | int = DEFAULT_MEMORY
    """Each node's memory: ``512M``, ``1G``, or a number of MiB (at least 128 MiB)."""
    cpus: int = 1
    """Each node's virtual CPUs (1 to :data:`MAX_CPUS`)."""
    forwards: tuple[str, ...] = ()
    """Host ports forwarded to nodes, each ``NODE:GUEST_PORT[:HOST_PORT]``."""
    disk_size: str | None = None
    """A qcow2 disk of this size for each node (``2G``; None: no disk)."""
    kernel_params: tuple[str, ...] = ()
    """Appended to the kernel command line each node boots (kept as words)."""
    qemu_options: tuple[str, ...] = ()
    """Appended to QEMU's arguments, one argument each."""

    def __post_init__(self) -> None:
        if self.accel is not None and self.accel not in qemu.ACCELS:
            raise InputError.naming(
                f"{{accel}} '{self.accel}' is unknown; give one of {', '.join(qemu.ACCELS)}",
                "accel",
            )
        if not 1 <= self.cpus <= MAX_CPUS:
            raise InputError.naming(
                f"{{cpus}} {self.cpus} must be between 1 and {MAX_CPUS}", "cpus"
            )
        if self.disk_size is not None and not DISK_SIZE.fullmatch(self.disk_size):
            raise InputError.naming(
                f"{{disk_size}} {self.disk_size!r} is not a size; write a number with an "
                "optional K, M, G or T suffix, e.g. 2G",
                "disk_size",
            )
        super().__post_init__()
        qemu.parse_memory(self.memory)
        self._keep("forwards", tuple(self.forwards))
        for spec in self.forwards:
            parse_forward(spec)
        self._keep("kernel_params", kexec.user_kernel_params(self.kernel_params))
        self._keep("qemu_options", qemu.user_qemu_options(self.qemu_options))

    def _keep(self, name: str, checked: tuple[str, ...]) -> None:
        """Hold ``checked`` as option ``name`` (the dataclass is frozen once made)."""
        object.__setattr__(self, name, checked)

    @property
    def memory_mib(self) -> int:
        """:attr:`memory` in MiB."""
        return qemu.parse_memory(self.memory)

    @property
    def forward_rules(self) -> tuple[Forward, ...]:
        """:attr:`forwards` read."""
        return tuple(parse_forward(spec) for spec in self.forwards)


@dataclass(frozen=True)
class VmRamdiskOptions(VmOptions):
    """:class:`VmOptions` with the NIC model, and more memory by default."""

    memory: str | int = RAMDISK_DEFAULT_MEMORY
    nic_model: str = "virtio"
    """Both NICs' model: ``virtio`` or ``e1000e`` (the boot system's initrd drives both)."""

    def __post_init__(self) -> None:
        if self.nic_model not in qemu.NIC_MODELS:
            raise InputError(
                f"NIC model '{self.nic_model}' is unknown; give one of {', '.join(qemu.NIC_MODELS)}"
            )
        super().__post_init__()

    @property
    def nic(self) -> str:
        """QEMU's device of :attr:`nic_model`."""
        return qemu.NIC_MODELS[self.nic_model]
