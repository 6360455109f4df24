"""What the local QEMU flavours keep in a deployment record, as typed sections.

:class:`VmResources` is ``deployment.resources`` (the deployment's marker and folders, its
subnet, host ports, switch and the machine every node gets), :class:`VmNodeFacts` one node's
``Node.extra`` (its QEMU command line, logs, control socket, disk, forwards). The stored JSON
is the one earlier nxc versions wrote; :func:`recorded` reads a value a step of the start
must have recorded, :func:`recorded_secret_dir` the private folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from nxc.errors import DeploymentRecordError
from nxc.record_section import CommonResources, Section, resources_of

if TYPE_CHECKING:
    from nxc.deployment import Deployment

T = TypeVar("T")


@dataclass
class SwitchFacts(Section):
    """The deployment's VDE switch (``resources.switch``)."""

    dir: Path | None = None
    """Its socket folder (under the run folder: it carries the marker)."""
    pidfile: Path | None = None
    pid: int | None = None
    """Once it runs."""
    pid_start: str | None = None
    """Its :func:`~nxc.flavours.common.processes.identity` at launch."""
    ports: int | None = None
    """How many nodes it has room for (absent in records of nxc before ``--add``)."""


@dataclass
class VmResources(CommonResources):
    """A vm or vm-ramdisk deployment's ``resources``; a record of another flavour reads as
    the defaults (no subnet, no ports)."""

    subnet: int | None = None
    """``S`` of the deployment's ``10.S.0.0/16``."""
    accel: str | None = None
    """``kvm`` or ``tcg``, chosen once for every node."""
    memory_mib: int | None = None
    cpus: int | None = None
    kernel_params: tuple[str, ...] | None = None
    """The user's kernel parameters; None in records of nxc before ``--add``, which kept
    neither them, the QEMU options nor the disk size."""
    qemu_options: tuple[str, ...] | None = None
    disk_size: str | None = None
    ports: list[int] = field(default_factory=list)
    """Every host port handed out (SSH and user forwards)."""
    switch: SwitchFacts = field(default_factory=SwitchFacts)


@dataclass
class VmNodeFacts(Section):
    """One node's ``extra``: what :meth:`~nxc.flavours.vm.flavour.VmFlavour.prepare` and
    ``launch`` recorded for it."""

    argv: list[str] | None = None
    """Its QEMU command line (a restart runs it again)."""
    console_log: Path | None = None
    qemu_log: Path | None = None
    qmp_socket: Path | None = None
    pid_start: str | None = None
    """Its QEMU's :func:`~nxc.flavours.common.processes.identity` at launch."""
    disk: Path | None = None
    forwards: list[tuple[int, int]] | None = None
    """``(host port, guest port)`` of each user forward to it."""


def recorded(value: T | None, deployment: Deployment, where: str) -> T:
    """``value``, read from ``where`` of ``deployment``'s record; :class:`DeploymentRecordError`
    naming both when the record lacks it."""
    if value is None:
        from nxc.deployment import CORRUPT_RECORD_HINT

        raise DeploymentRecordError(
            f"deployment record {deployment.name}: '{where}' is missing; {CORRUPT_RECORD_HINT}"
        )
    return value


def recorded_secret_dir(deployment: Deployment) -> Path:
    """The deployment's private folder, as its record names it."""
    secret_dir = resources_of(VmResources, deployment).secret_dir
    return recorded(secret_dir, deployment, "resources.secret_dir")
