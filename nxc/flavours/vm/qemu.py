"""QEMU for the vm flavour: finding it, choosing KVM or TCG, and building command lines.

KVM is used only when it really boots a guest: a ``/dev/kvm`` can exist and still fail to
run a kernel (nested or paravirtualised hosts such as PVM). The answer is found once by
booting the deployment's kernel for a few seconds and cached in ``~/.cache/nxc/accel.json``,
keyed by the QEMU version, the kernel and the host kernel release.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nxc.atomic import write_atomic
from nxc.errors import ExternalCommandError, InputError

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"
QEMU_IMG = "qemu-img"
QEMU_IMG_PACKAGE = "qemu-utils"
ACCELS = ("kvm", "tcg")
TCG_ACCEL = "tcg,tb-size=64"
PROBE_TIMEOUT = 10.0
MIN_MEMORY_MIB = 128
# QEMU's own memory next to the guest's (TCG translation cache, devices): measured ~110 MiB.
QEMU_OVERHEAD_MIB = 128


RESERVED_OPTIONS = ("-kernel", "-initrd", "-append", "-name", "-qmp")
"""QEMU options nxc sets itself for every node (boot files, marker, control socket)."""


def user_qemu_options(options: Sequence[str]) -> tuple[str, ...]:
    """The user's extra QEMU arguments, checked; :class:`InputError` in one line.

    Each item is one argument. Refused: newlines and other control characters, options nxc
    sets itself (:data:`RESERVED_OPTIONS`) and fw_cfg entries under ``opt/nxc/`` (the node's
    deployment info and host key).
    """
    for option in options:
        if any(ord(char) < 32 or ord(char) == 127 for char in option):
            raise InputError(
                f"QEMU option {option!r} holds a newline or control character; give one "
                "argument per item"
            )
        name = option.split("=", 1)[0]
        if name in RESERVED_OPTIONS or "opt/nxc/" in option:
            raise InputError.naming(
                f"QEMU option {option!r} would override what nxc sets itself (kernel, initrd, "
                "command line, marker, QMP socket, opt/nxc/ fw_cfg files); drop it (kernel "
                "parameters go in {kernel_params})",
                "kernel_params",
            )
    return tuple(options)


def qemu_version(qemu: str) -> str:
    """The first line of ``qemu --version``."""
    result = subprocess.run([qemu, "--version"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ExternalCommandError(f"'{qemu} --version' failed: {result.stderr.strip()}")
    return result.stdout.splitlines()[0].strip() if result.stdout else "unknown"


def parse_memory(value: str | int) -> int:
    """Memory size in MiB from ``512``, ``512M``, ``1G``; refuses less than 128 MiB."""
    text = str(value).strip().upper().removesuffix("B").removesuffix("I")
    factor = 1
    if text.endswith("G"):
        factor, text = 1024, text[:-1]
    elif text.endswith("M"):
        text = text[:-1]
    if not text.isdigit():
        raise InputError.naming(
            f"{{memory}} '{value}' is not a size; give e.g. 256M or 1G", "memory"
        )
    mib = int(text) * factor
    if mib < MIN_MEMORY_MIB:
        raise InputError.naming(
            f"{{memory}} {value} is too small: guests boot-loop below {MIN_MEMORY_MIB} MiB; "
            f"give at least {MIN_MEMORY_MIB}M",
            "memory",
        )
    return mib


def cache_file() -> Path:
    """Where the KVM/TCG decision is cached."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nxc" / "accel.json"


def kvm_may_work() -> bool:
    """Cheap checks before trying a KVM boot: /dev/kvm usable and not a PVM host."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    # PVM hosts expose /dev/kvm but cannot boot ordinary kernels under it.
    return not Path("/sys/module/kvm_pvm").exists()


def kvm_boots(qemu: str, kernel: Path, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether QEMU with KVM prints the kernel's first console lines within ``timeout``."""
    argv = [
        qemu, "-accel", "kvm", "-cpu", "host", "-m", f"{MIN_MEMORY_MIB}M",
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-serial", "stdio", "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1",
    ]  # fmt: skip
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and b"Linux version" not in seen:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
    return b"Linux version" in seen


def choose_accel(qemu: str, kernel: Path, forced: str | None = None) -> str:
    """``kvm`` or ``tcg``: forced by the user, else cached, else found by a test boot."""
    if forced is not None:
        if forced not in ACCELS:
            raise InputError.naming(
                f"{{accel}} '{forced}' is unknown; give one of {', '.join(ACCELS)}", "accel"
            )
        return forced
    if not kvm_may_work():
        return "tcg"
    key = f"{qemu_version(qemu)}|{kernel}|{os.uname().release}"
    path = cache_file()
    cached: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        cached = json.loads(path.read_text())
    if cached.get(key) in ACCELS:
        return cached[key]
    accel = "kvm" if kvm_boots(qemu, kernel) else "tcg"
    cached[key] = accel
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(cached, indent=2) + "\n")
    return accel


@dataclass(frozen=True)
class QemuNode:
    """Everything one node's QEMU command line depends on."""

    hostname: str
    kernel: Path
    initrd: Path
    append: str
    memory_mib: int
    cpus: int
    accel: str
    info_file: Path | None
    """fw_cfg ``opt/nxc/info`` (None: the node finds its info another way)."""
    host_key_file: Path | None
    """fw_cfg ``opt/nxc/host_key`` (None: the node finds its key another way)."""
    console_log: Path
    qmp_socket: Path
    switch_dir: Path
    mac: str
    ssh_port: int
    marker: str
    store_dir: Path | None = Path("/nix/store")
    shared_dir: Path | None = None
    shared_tag: str = "nxcshared"
    forwards: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    disk: Path | None = None
    extra: tuple[str, ...] = ()
    """The user's own QEMU arguments (:func:`user_qemu_options`), last."""
    nic: str = "virtio-net-pci"
    """QEMU's device model of both NICs (see :data:`NIC_MODELS`)."""
    guestfwd: str | None = None
    """A command QEMU's user network runs for each connection the guest opens to
    :data:`GUESTFWD_ADDRESS` (``guestfwd=...-cmd:``; commas already doubled)."""


LAN_NETDEV = "lan"
NIC_MODELS = {"virtio": "virtio-net-pci", "e1000e": "e1000e"}
"""NIC model name → QEMU device."""
GUESTFWD_ADDRESS = "10.0.2.100"
"""Where a guest reaches :attr:`QemuNode.guestfwd`, on port 80 (QEMU's user network is
10.0.2.0/24)."""


def _escape(path: Path | str) -> str:
    """A path as a QEMU option value (commas doubled)."""
    return str(path).replace(",", ",,")


def command_line(qemu: str, node: QemuNode) -> list[str]:
    """The argument list launching ``node`` in the foreground (the caller detaches it)."""
    accel = ["-accel", "kvm", "-cpu", "host"] if node.accel == "kvm" else ["-accel", TCG_ACCEL]
    forwards = [f"hostfwd=tcp:127.0.0.1:{node.ssh_port}-:22"] + [
        f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for host, guest in node.forwards
    ]
    if node.guestfwd is not None:
        forwards.append(f"guestfwd=tcp:{GUESTFWD_ADDRESS}:80-cmd:{node.guestfwd}")
    argv = [
        qemu,
        # The marker lets nxc recognise its own processes in /proc (see processes.py).
        "-name", f"{node.hostname}:{node.marker}",
        *accel,
        "-m", f"{node.memory_mib}M",
        "-smp", str(node.cpus),
        "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
        "-kernel", str(node.kernel),
        "-initrd", str(node.initrd),
        "-append", node.append,
        "-chardev", f"file,id=console,path={_escape(node.console_log)}",
        "-serial", "chardev:console",
        "-qmp", f"unix:{_escape(node.qmp_socket)},server=on,wait=off",
        "-netdev", f"vde,id={LAN_NETDEV},sock={_escape(node.switch_dir)}",
        "-device", f"{node.nic},netdev={LAN_NETDEV},mac={node.mac}",
        "-netdev", f"user,id=ctl,restrict=on,{','.join(forwards)}",
        "-device", f"{node.nic},netdev=ctl",
    ]  # fmt: skip
    for name, path in (("info", node.info_file), ("host_key", node.host_key_file)):
        if path is not None:
            argv += ["-fw_cfg", f"name=opt/nxc/{name},file={_escape(path)}"]
    if node.store_dir is not None:
        argv += [
            "-virtfs",
            f"local,path={_escape(node.store_dir)},mount_tag=nixstore,security_model=none,readonly=on",
        ]
    if node.shared_dir is not None:
        argv += [
            "-virtfs",
            f"local,path={_escape(node.shared_dir)},mount_tag={node.shared_tag},security_model=none",
        ]
    if node.disk is not None:
        argv += ["-drive", f"file={_escape(node.disk)},if=virtio,format=qcow2"]
    return [*argv, *node.extra]


def create_disk(qemu_img: str, path: Path, size: str) -> None:
    """Create an empty qcow2 disk of ``size`` (e.g. ``2G``) at ``path`` unless it exists."""
    if path.exists():
        return
    result = subprocess.run(
        [qemu_img, "create", "-q", "-f", "qcow2", str(path), size],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ExternalCommandError(
            f"qemu-img could not create the disk {path} of size {size}: {result.stderr.strip()}"
        )
