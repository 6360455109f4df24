"""Stand-ins for Grid'5000 hosts: test-bed VMs on a host bridge, reached as root over SSH.

A :class:`HostLab` owns a Linux bridge (``10.215.0.254/24`` by default), a busybox ``udhcpd``
on it handing each VM its fixed address (as Grid'5000's DHCP does), and one QEMU (TCG) per
host on a tap device of that bridge. Each host boots the test-bed guest in its "standard
environment": hostname ``host-<i>``, its own SSH host key (pinned in :attr:`known_hosts`), and
the deploy user's key (:attr:`deploy_key`) authorized for root (its host key is a file of its
initrd, :meth:`HostLab._initrd`), the way a node of a Grid'5000
``deploy`` job accepts its user. :meth:`HostLab.reset` powers them off and boots them again in
that environment (after a test kexec'd them into a composition). Everything is removed by
:meth:`HostLab.close`: QEMUs and udhcpd by pid, taps and bridge by name.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nxc import keys
from nxc.flavours.g5k.kexec import HostShell, b64url
from tests.testbed.cpio import with_file

BOOT_TIMEOUT = 180.0
MEMORY_MB = 384
PARAMS = "console=ttyS0 panic=-1 loglevel=4"
KEXEC = "/usr/sbin/kexec"
FAKE_KEXEC_SAVED = "/usr/sbin/kexec.real"


def _run(*argv: str) -> None:
    subprocess.run(list(argv), check=True, capture_output=True, text=True)


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class HostLab:
    """Host VMs on a bridge (see the module docstring)."""

    workdir: Path
    kernel: Path
    initrd: Path
    count: int
    prefix: str = "10.215.0"
    run_id: str = field(default_factory=lambda: secrets.token_hex(2))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def bridge(self) -> str:
        return f"nxg{self.run_id}"

    @property
    def gateway(self) -> str:
        """The bridge's address: what the nodes see of this machine (the "frontend")."""
        return f"{self.prefix}.254"

    @property
    def hosts(self) -> list[str]:
        return [f"{self.prefix}.{index}" for index in range(1, self.count + 1)]

    @property
    def deploy_key(self) -> Path:
        return self.workdir / "deploy_key"

    @property
    def known_hosts(self) -> Path:
        return self.workdir / "hosts_known_hosts"

    def ssh_options(self) -> tuple[str, ...]:
        """OpenSSH options reaching the hosts' standard environment as root."""
        return (
            "-i", str(self.deploy_key),
            "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
        )  # fmt: skip

    def shell(self) -> HostShell:
        return HostShell.found("root", self.ssh_options())

    def mac(self, host: str) -> str:
        return f"52:54:00:d5:{int(self.run_id[:2], 16):02x}:{int(host.rsplit('.', 1)[1]):02x}"

    def console(self, host: str) -> Path:
        return self.workdir / f"{host}.console.log"

    # --- set-up ---------------------------------------------------------------------------

    def open(self) -> HostLab:
        """Create bridge, DHCP server, taps and keys; boot every host."""
        later = self._cleanup.callback
        self.workdir.mkdir(parents=True, exist_ok=True)
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        later(_run, "ip", "link", "del", self.bridge)
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        for host in self.hosts:
            tap = self._tap(host)
            _run("ip", "tuntap", "add", "dev", tap, "mode", "tap")
            later(subprocess.run, ["ip", "link", "del", tap], check=False, capture_output=True)
            _run("ip", "link", "set", tap, "master", self.bridge, "up")
        self._start_dhcp()
        pair = keys.generate_keypair("deploy-user")
        keys.write_private_key(self.deploy_key, pair)
        self.host_keys = {host: keys.generate_keypair(f"std:{host}") for host in self.hosts}
        self.known_hosts.write_text(
            "".join(f"{host} {pair.public_line}\n" for host, pair in self.host_keys.items())
        )
        self.info = {
            "version": 1,
            "deployment": "grid5000-standard-environment",
            "authorized_keys": [pair.public_line],
            "nodes": [
                {"hostname": f"host-{index}", "role": "std", "address": host}
                for index, host in enumerate(self.hosts, start=1)
            ],
        }
        later(self._stop_all)
        self.reset()
        return self

    def _tap(self, host: str) -> str:
        return f"nxg{self.run_id}t{host.rsplit('.', 1)[1]}"

    def _start_dhcp(self) -> None:
        udhcpd = shutil.which("busybox")
        assert udhcpd, "busybox (busybox-static) is needed for udhcpd"
        leases = "".join(f"static_lease {self.mac(h)} {h}\n" for h in self.hosts)
        config = self.workdir / "udhcpd.conf"
        config.write_text(
            f"start {self.prefix}.200\nend {self.prefix}.220\ninterface {self.bridge}\n"
            f"lease_file {self.workdir / 'leases'}\npidfile {self.workdir / 'udhcpd.pid'}\n"
            f"opt subnet 255.255.255.0\nopt lease 86400\n{leases}"
        )
        (self.workdir / "leases").touch()
        log = (self.workdir / "udhcpd.log").open("wb")
        process = subprocess.Popen([udhcpd, "udhcpd", "-f", str(config)], stdout=log, stderr=log)
        self._cleanup.callback(_terminate, process)

    # --- hosts ----------------------------------------------------------------------------

    def _initrd(self, host: str) -> Path:
        """The guest's initrd with ``/etc/nxc/host_key`` (0600) appended as a second archive:
        the host's own key, as a standard environment has it on its disk. A kexec'd
        composition gets the guest's initrd alone, so it never sees this key."""
        path = self.workdir / f"{host}.initrd"
        if not path.exists():
            key = self.host_keys[host].private_openssh
            with_file(self.initrd, "etc/nxc/host_key", key, 0o600, path)
        return path

    def _argv(self, host: str) -> list[str]:
        params = f"{PARAMS} nxc.info={b64url(json.dumps(self.info).encode())}"
        return [
            shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
            "-accel", "tcg,tb-size=64", "-m", f"{MEMORY_MB}M", "-smp", "1",
            "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", f"file:{self.console(host)}",
            "-kernel", str(self.kernel), "-initrd", str(self._initrd(host)),
            "-netdev", f"tap,id=n0,ifname={self._tap(host)},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={self.mac(host)}",
            "-append", params,
        ]  # fmt: skip

    def power_on(self, host: str) -> None:
        """Boot ``host`` in the standard environment (its console log starts afresh)."""
        self.console(host).write_bytes(b"")
        with (self.workdir / f"{host}.qemu.log").open("wb") as log:
            self.processes[host] = subprocess.Popen(
                self._argv(host), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def power_off(self, host: str) -> None:
        """Kill the host's QEMU (ours, by pid)."""
        process = self.processes.pop(host, None)
        if process is not None:
            _terminate(process)

    def reset(self, hosts: list[str] | None = None) -> None:
        """Power the hosts off and on again; wait until each answers SSH as root."""
        hosts = self.hosts if hosts is None else hosts
        for host in hosts:
            self.power_off(host)
            self.power_on(host)
        shell = self.shell()
        deadline = time.monotonic() + BOOT_TIMEOUT
        for host in hosts:
            while shell.call(host, "true", timeout=30)[0] != 0:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{host} did not boot; see {self.console(host)}")
                time.sleep(0.5)

    def run(self, host: str, script: str) -> str:
        """Run ``script`` on ``host``'s standard environment as root."""
        return self.shell().run(host, script)

    def restore(self) -> None:
        """Boot again the hosts that left their standard environment (or had kexec replaced)."""
        shell = self.shell()
        altered = [
            host
            for host in self.hosts
            if shell.call(host, f"test ! -e {FAKE_KEXEC_SAVED}", timeout=30)[0] != 0
        ]
        if altered:
            self.reset(altered)

    def break_kexec(self, host: str, working_after: int | None = None) -> None:
        """Replace ``kexec`` on ``host``: it logs its arguments to ``/tmp/kexec-calls`` and
        does nothing, until its ``working_after``-th ``-l`` call, which goes to the real one."""
        limit = 10**6 if working_after is None else working_after
        script = (
            "#!/bin/sh\n"
            'echo "$1" >> /tmp/kexec-calls\n'
            f"[ $(grep -c -- '^-l' /tmp/kexec-calls) -ge {limit} ] && "
            f'exec {FAKE_KEXEC_SAVED} "$@"\n'
            "exit 0\n"
        )
        self.shell().run(
            host,
            f"mv {KEXEC} {FAKE_KEXEC_SAVED} && cat > {KEXEC} && chmod +x {KEXEC}",
            stdin=script.encode(),
        )

    def kexec_calls(self, host: str) -> list[str]:
        """The first arguments the replaced ``kexec`` of ``host`` was called with."""
        return self.run(host, "cat /tmp/kexec-calls 2>/dev/null || true").split()

    def _stop_all(self) -> None:
        for host in list(self.processes):
            self.power_off(host)

    def close(self) -> None:
        """Stop everything this lab started and remove its devices."""
        self._cleanup.close()
