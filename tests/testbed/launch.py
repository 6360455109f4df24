"""Boot test-bed guests under QEMU for the test bed's own tests (not the vm flavour).

A guest gets its deployment info and host key through fw_cfg (as the vm flavour does), the
kernel command line, or a URL; a user-mode NIC forwards a host port to its sshd, and an optional
second NIC joins a VDE switch shared with other guests.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nxc.errors import MissingToolError, NodeTimeoutError
from tests.testbed.cpio import with_file

TCG = ["-accel", "tcg,tb-size=64"]


def tool(program: str, package: str) -> str:
    """Absolute path of ``program``, or MissingToolError naming its Debian package."""
    path = shutil.which(program)
    if path is None:
        raise MissingToolError(program, package, "to boot test-bed guests")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding, as the node contract reads it from the command line."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _terminate(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class VdeSwitch:
    """A ``vde_switch`` on a socket folder: the L2 segment guests share."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "switch"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the switch and wait until its control socket exists."""
        self.process = subprocess.Popen(
            [tool("vde_switch", "vde2"), "--sock", str(self.socket)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not (self.socket / "ctl").exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise NodeTimeoutError(f"vde_switch did not create {self.socket}/ctl in 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the switch (it is ours: killed by pid) and remove its socket folder."""
        if self.process is not None:
            _terminate(self.process)
        shutil.rmtree(self.socket, ignore_errors=True)


@dataclass
class GuestConfig:
    """Everything one guest boots with."""

    name: str
    kernel: Path
    initrd: Path
    workdir: Path
    info: dict | None = None
    host_key: bytes | None = None
    delivery: str = "fw_cfg"  # fw_cfg | cmdline | url
    info_url: str = ""
    memory_mb: int = 128
    ssh_port: int = 0
    user_net_restricted: bool = True
    vde_socket: Path | None = None
    mac: str = ""
    shares: dict[str, Path] = field(default_factory=dict)
    kernel_params: str = "console=ttyS0 panic=-1 loglevel=4"
    accel: list[str] = field(default_factory=lambda: list(TCG))


class Guest:
    """One QEMU process running a test-bed guest; its console goes to ``console.log``."""

    def __init__(self, config: GuestConfig) -> None:
        self.config = config
        self.folder = config.workdir / config.name
        self.console_log = self.folder / "console.log"
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def command(self) -> list[str]:
        """The QEMU command line."""
        c = self.config
        self.folder.mkdir(parents=True, exist_ok=True)
        params = c.kernel_params
        argv = [
            tool("qemu-system-x86_64", "qemu-system-x86"),
            *c.accel,
            "-m", f"{c.memory_mb}M",
            "-smp", "1",
            "-nodefaults",
            "-display", "none",
            "-no-reboot",
            "-serial", f"file:{self.console_log}",
            "-kernel", str(c.kernel),
            "-initrd", str(c.initrd),
        ]  # fmt: skip
        if c.delivery == "fw_cfg":
            if c.info is not None:
                info_file = self.folder / "info.json"
                info_file.write_text(json.dumps(c.info))
                argv += ["-fw_cfg", f"name=opt/nxc/info,file={info_file}"]
            if c.host_key is not None:
                key_file = self.folder / "host_key"
                key_file.write_bytes(c.host_key)
                argv += ["-fw_cfg", f"name=opt/nxc/host_key,file={key_file}"]
        else:
            if c.delivery == "cmdline" and c.info is not None:
                params += " nxc.info=" + b64url(json.dumps(c.info).encode())
            if c.delivery == "url":
                params += f" nxc.info_url={c.info_url}"
            if c.host_key is not None:  # never on the command line: a file of the initrd
                initrd = with_file(
                    c.initrd, "etc/nxc/host_key", c.host_key, 0o600, self.folder / "initrd"
                )
                argv[argv.index(str(c.initrd))] = str(initrd)
        restrict = "on" if c.user_net_restricted else "off"
        user = f"user,id=u0,restrict={restrict}"
        if c.ssh_port:
            user += f",hostfwd=tcp:127.0.0.1:{c.ssh_port}-:22"
        argv += ["-netdev", user, "-device", "virtio-net-pci,netdev=u0"]
        if c.vde_socket is not None:
            argv += ["-netdev", f"vde,id=v0,sock={c.vde_socket}"]
            argv += ["-device", f"virtio-net-pci,netdev=v0,mac={c.mac}"]
        for index, (tag, path) in enumerate(sorted(c.shares.items())):
            argv += [
                "-fsdev", f"local,id=fs{index},path={path},security_model=none",
                "-device", f"virtio-9p-pci,fsdev=fs{index},mount_tag={tag}",
            ]  # fmt: skip
        return [*argv, "-append", params]

    def start(self) -> None:
        """Launch QEMU in the background."""
        argv = self.command()
        self.console_log.write_bytes(b"")
        with open(self.folder / "qemu.log", "wb") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        self.started_at = time.monotonic()

    def console(self) -> str:
        """Everything the guest printed on its serial console so far."""
        return self.console_log.read_text(errors="replace")

    def wait_for_console(self, text: str, timeout: float = 120.0) -> float:
        """Wait until ``text`` appears on the console; seconds since launch."""
        deadline = time.monotonic() + timeout
        while text not in self.console():
            if self.process is not None and self.process.poll() is not None:
                raise NodeTimeoutError(
                    f"{self.config.name}: QEMU exited ({self.process.returncode}) before "
                    f"'{text}'; see {self.console_log} and {self.folder / 'qemu.log'}",
                    [self.config.name],
                )
            if time.monotonic() > deadline:
                tail = "\n".join(self.console().splitlines()[-15:])
                raise NodeTimeoutError(
                    f"{self.config.name}: no '{text}' on the console after {timeout:.0f} s; "
                    f"console log {self.console_log}, last lines:\n{tail}",
                    [self.config.name],
                )
            time.sleep(0.1)
        return time.monotonic() - self.started_at

    def rss_kib(self) -> int:
        """Resident memory of the QEMU process in KiB."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        """Kill the QEMU process (by its pid) and wait for it."""
        if self.process is not None:
            _terminate(self.process)


def ssh_argv(port: int, client_key: Path, known_hosts: Path, *command: str) -> list[str]:
    """An OpenSSH client command for root on a guest's forwarded port, host key pinned."""
    return [
        tool("ssh", "openssh-client"),
        "-p", str(port),
        "-i", str(client_key),
        "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "HostKeyAlias=guest",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        "-o", "LogLevel=ERROR",
        "root@127.0.0.1",
        *command,
    ]  # fmt: skip


def wait_for_ssh(port: int, client_key: Path, known_hosts: Path, timeout: float = 120.0) -> float:
    """Wait until ``true`` runs over SSH with the pinned host key; seconds waited."""
    start = time.monotonic()
    argv = ssh_argv(port, client_key, known_hosts, "true")
    while True:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
        if result.returncode == 0:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise NodeTimeoutError(
                f"SSH on 127.0.0.1:{port} did not answer in {timeout:.0f} s: "
                f"{result.stderr.strip()}"
            )
        time.sleep(0.2)


def pinned_known_hosts(path: Path, public_key: str) -> Path:
    """Write a known_hosts file pinning ``public_key`` for the alias ``guest``."""
    path.write_text(f"guest {public_key.strip()}\n")
    os.chmod(path, 0o600)
    return path
