"""Namespace hosts standing for many Grid'5000 hosts, for broadcasts (tests and benchmark).

:class:`BroadcastLab` starts ``count`` hosts of :mod:`tests.netns` (real OpenSSH ``sshd``) whose
``/tmp`` is each host's own folder (mode 1777, as a real ``/tmp``), so that every host has its
own :data:`nxc.flavours.g5k.kexec.REMOTE_DIR` and the test can plant there what another user would.
This machine reaches the hosts as root with a client key that only it can read (the key sits
in this machine's ``/tmp``, which the hosts do not see): host-to-host connections have to
authenticate through agent forwarding, as on Grid'5000 where the hosts hold no key of the
user. The hosts' pinned keys are in a known_hosts file every host can read (under ``/run``),
given to the relays with ``UserKnownHostsFile``. :meth:`BroadcastLab.isolate` turns on bridge
port isolation so that hosts can no longer reach each other, only this machine.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from nxc.flavours.g5k import kexec
from nxc.keys import generate_keypair, write_private_key
from tests.netns import NamespaceHost, NamespaceHosts


class BroadcastLab:
    """``count`` namespace hosts with private ``/tmp`` folders, one root shell to reach them."""

    def __init__(self, count: int, workdir: Path) -> None:
        self.count = count
        self.workdir = workdir
        # sshd's files and the relays' known_hosts must stay visible once /tmp is the host's own
        self.shared = Path(tempfile.mkdtemp(prefix="nxc-scale-", dir="/run"))
        client = generate_keypair("scale-client")
        self.key = workdir / "id_ed25519"
        write_private_key(self.key, client)
        self.hosts_group = NamespaceHosts(count, self.shared, client.public_line)
        self.hosts: list[NamespaceHost] = []
        self.known_hosts = self.shared / "known_hosts"

    def __enter__(self) -> BroadcastLab:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        """Start the hosts, each with its own ``/tmp``."""
        self.hosts = self.hosts_group.up()
        for host in self.hosts:
            tmp = self.tmp_of(host)
            tmp.mkdir(parents=True, exist_ok=True)
            tmp.chmod(0o1777)
            host.kill()
            host.start_sshd(binds={tmp: "/tmp"})
        for host in self.hosts:
            host.wait_listening()
        self.known_hosts.write_text("".join(f"{h.address} {h.host_key}\n" for h in self.hosts))

    def down(self) -> None:
        """Stop every host, remove the bridge and the folders (idempotent)."""
        self.hosts_group.down()
        self.hosts = []
        shutil.rmtree(self.shared, ignore_errors=True)

    @property
    def addresses(self) -> list[str]:
        return [host.address for host in self.hosts]

    @property
    def bridge(self) -> str:
        return self.hosts_group.bridge

    def tmp_of(self, host: NamespaceHost) -> Path:
        """The folder that is ``/tmp`` on ``host``."""
        return self.workdir / "tmp" / host.hostname

    def remote_dir(self, host: NamespaceHost) -> Path:
        """:data:`kexec.REMOTE_DIR` of ``host`` as this machine sees it."""
        return self.tmp_of(host) / Path(kexec.REMOTE_DIR).relative_to("/tmp")

    def shell(self) -> kexec.HostShell:
        """Root OpenSSH to the hosts from this machine: the client key, pinned host keys."""
        options = ("-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                   "-o", "StrictHostKeyChecking=yes")  # fmt: skip
        return kexec.HostShell.found("root", options)

    @property
    def relay_options(self) -> tuple[str, ...]:
        """OpenSSH options for host-to-host connections (the pinned keys, readable there)."""
        return ("-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes")

    def isolate(self, isolated: bool = True) -> None:
        """Bridge port isolation on every host's port: hosts reach this machine, not each other."""
        state = "on" if isolated else "off"
        for index in range(self.count):
            veth = f"nv{self.hosts_group.run_id}-{index}"
            subprocess.run(["ip", "link", "set", "dev", veth, "type", "bridge_slave",
                            "isolated", state], check=True, capture_output=True)  # fmt: skip

    def sent_bytes(self) -> int:
        """Bytes this machine has sent into the hosts' bridge so far."""
        return int(Path(f"/sys/class/net/{self.bridge}/statistics/tx_bytes").read_text())
