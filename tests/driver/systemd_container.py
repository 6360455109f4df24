"""A node with a real systemd as PID 1: the host's own Debian booted in a systemd-nspawn
container, inside a namespace host's network namespace, reached over SSH like any node.

The container's root is an overlay of the host's ``/`` with a private upper folder holding what
the test adds: a boot target that starts only the basics and ``ssh.service``, a fresh SSH host
key, the deployment's authorized key, and the test units (:data:`TEST_UNITS`,
:data:`USER_UNITS`). Users and their managers are created inside the container only. Needs root,
``systemd-nspawn`` (Debian ``systemd-container``), ``/lib/systemd/systemd`` and overlayfs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from nxc.keys import generate_keypair, write_private_key
from tests.netns import NamespaceHost

BOOT_TARGET = "nxc-test.target"
TEST_UNITS = {
    BOOT_TARGET: (
        "[Unit]\nDescription=nxc driver test boot target\n"
        "Requires=basic.target ssh.service\nAfter=basic.target ssh.service\nAllowIsolate=yes\n"
    ),
    "nxc-demo.service": "[Service]\nExecStart=/bin/sleep infinity\n",
    "nxc-broken.service": "[Service]\nExecStart=/bin/false\n",
    "nxc-slow.service": ("[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep 3\n"),
    "nxc-stuck.service": "[Service]\nType=oneshot\nExecStart=/bin/sleep 600\n",
}
USER_UNITS = {"nxc-user-demo.service": "[Service]\nExecStart=/bin/sleep infinity\n"}
"""Units of every user's systemd manager (``systemctl --user``)."""
BOOT_TIMEOUT = 120.0


def missing_requirement() -> str | None:
    """Why a systemd container cannot run here, or None."""
    if os.geteuid() != 0:
        return "a systemd container needs root"
    if shutil.which("systemd-nspawn") is None:
        return "systemd-nspawn is missing (apt-get install systemd-container)"
    if not Path("/lib/systemd/systemd").exists():
        return "systemd is not installed on this host"
    return None


class SystemdContainer:
    """The host's OS booted with systemd in ``host``'s network namespace (see module doc)."""

    def __init__(self, host: NamespaceHost, folder: Path, authorized_key: str) -> None:
        self.host = host
        self.folder = folder
        self.authorized_key = authorized_key
        self.root = folder / "root"
        self.log_path = folder / "console.log"
        self.host_key = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._mounted = False

    def start(self) -> None:
        """Prepare the overlay and boot; return once sshd answers (raise naming the log)."""
        upper, work = self.folder / "upper", self.folder / "work"
        for folder in (upper, work, self.root):
            folder.mkdir(parents=True, exist_ok=True)
        self._populate(upper)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir=/,upperdir={upper},workdir={work}",
                str(self.root),
            ],
            check=True,
        )
        self._mounted = True
        argv = [
            "systemd-nspawn",
            "-D",
            str(self.root),
            "--boot",
            "--keep-unit",
            "--register=no",
            "--link-journal=no",
            f"--network-namespace-path=/run/netns/{self.host.namespace}",
            f"--machine=nxc-{secrets.token_hex(4)}",
            f"--hostname={self.host.hostname}",
            "--console=passive",
            f"systemd.unit={BOOT_TARGET}",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not self.host.listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"systemd container did not boot; see {self.log_path}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Power the container off (SIGTERM to nspawn), kill it if it lingers, unmount."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            self.process = None
        if self._mounted:
            subprocess.run(["umount", "-l", str(self.root)], check=False)
            self._mounted = False

    def _populate(self, upper: Path) -> None:
        units = upper / "etc/systemd/system"
        units.mkdir(parents=True, exist_ok=True)
        for name, text in TEST_UNITS.items():
            (units / name).write_text(text)
        user_units = upper / "etc/systemd/user"
        user_units.mkdir(parents=True, exist_ok=True)
        for name, text in USER_UNITS.items():
            (user_units / name).write_text(text)
        ssh = upper / "etc/ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        pair = generate_keypair(f"{self.host.hostname}-container-host-key")
        write_private_key(ssh / "ssh_host_ed25519_key", pair)
        (ssh / "ssh_host_ed25519_key.pub").write_text(pair.public_line + "\n")
        self.host_key = pair.public_line
        dot_ssh = upper / "root/.ssh"
        dot_ssh.mkdir(parents=True, exist_ok=True, mode=0o700)
        (dot_ssh / "authorized_keys").write_text(self.authorized_key.strip() + "\n")
