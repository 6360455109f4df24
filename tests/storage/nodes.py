"""Storage test nodes: namespace hosts (tests/netns.py) that each see their own state folders.

Every node is a network namespace of :class:`tests.netns.NamespaceHosts` plus one holder
process in a new mount and UTS namespace, where per-node folders are bind-mounted over the
paths the storage daemons keep state in (``/var/lib/glusterd``, ``/var/lib/ceph``,
``/etc/ceph``, ``/run``, ``/srv``, ``/mnt``...). Commands run inside with ``nsenter`` into the
holder's namespaces, so each daemon sees its node's files and network only. The node gets the
deployment info the way nxc's nodes do: ``/run/nxc/info.json`` and ``/run/nxc/self.json``
(docs/node-contract.md).

Each node's SSH server (the one :class:`~tests.netns.NamespaceHosts` started, same config, host
key and ``authorized_keys``) is restarted inside the holder's namespaces, so SSH sessions (nxc's
own, e.g. ``nxc bench fio``) see the node's mounts as a login on a real node would.

Everything a node starts lives in its network namespace, so ``NamespaceHosts.down()`` kills it
and the mount namespace (with its FUSE mounts) goes with the last process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.netns import NamespaceHost, NamespaceHosts

PRIVATE = (
    "/root",
    "/run",
    "/srv",
    "/mnt",
    "/var/lib/glusterd",
    "/var/log/glusterfs",
    "/var/lib/ceph",
    "/var/log/ceph",
    "/etc/ceph",
)
"""Paths each node gets its own (empty) folder on."""


@dataclass
class StorageNode:
    """One node: its namespace host, role, hostname and the holder of its namespaces."""

    host: NamespaceHost
    hostname: str
    role: str
    holder: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return self.host.address

    @property
    def folder(self) -> Path:
        return self.host.folder / "state"

    def start(self, info: dict) -> None:
        """Create the node's folders, write its deployment info and start its holder."""
        for path in PRIVATE:
            (self.folder / path.strip("/")).mkdir(parents=True, exist_ok=True)
            Path(path).mkdir(parents=True, exist_ok=True)
        run = self.folder / "run"
        (run / "nxc").mkdir(exist_ok=True)
        (run / "nxc" / "info.json").write_text(json.dumps(info))
        [entry] = [n for n in info["nodes"] if n["hostname"] == self.hostname]
        (run / "nxc" / "self.json").write_text(json.dumps(entry))
        binds = " ".join(f"{self.folder / p.strip('/')} {p}" for p in PRIVATE)
        script = (
            f"set -- {binds}; "
            'while [ $# -gt 0 ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; '
            f"hostname {self.hostname} && touch /run/holder-ready && exec sleep infinity"
        )
        with open(self.folder / "holder.log", "wb") as log:
            self.holder = subprocess.Popen(
                [
                    shutil.which("nsenter") or "nsenter",
                    f"--net=/run/netns/{self.host.namespace}",
                    "unshare",
                    "--uts",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    script,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not (run / "holder-ready").exists():
            if self.holder.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "holder.log").read_text()
                raise RuntimeError(f"{self.hostname}: namespace holder failed: {log}")
            time.sleep(0.05)
        self._move_sshd()

    def _move_sshd(self) -> None:
        """Replace the host's sshd (its own mount namespace) by one in the holder's."""
        if self.host.process is not None:
            self.host.process.kill()
            self.host.process.wait(timeout=10)
        (self.folder / "run" / "sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        config = str(self.host.folder / "sshd_config")
        with open(self.host.log_path, "ab") as log:
            self.host.process = subprocess.Popen(
                ["nsenter", "-t", str(self._holder_pid()), "-n", "-m", "-u", "--",
                 sshd, "-D", "-e", "-f", config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        self.host.wait_listening()

    def _holder_pid(self) -> int:
        """The pid of ``sleep`` (the exec'd shell) in the node's namespaces."""
        assert self.holder is not None
        return self.holder.pid

    def popen(self, command: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
        """Start ``command`` (sh) inside the node."""
        argv = ["nsenter", "-t", str(self._holder_pid()), "-n", "-m", "-u", "--", "sh", "-c"]
        environment = {**os.environ, **(env or {})}
        return subprocess.Popen([*argv, command], env=environment, **kwargs)

    def run(
        self, command: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (sh) inside the node and wait for it."""
        process = self.popen(
            command, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise AssertionError(
                f"{self.hostname}: {command!r} timed out after {timeout} s\n{stdout}\n{stderr}"
            ) from None
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def succeed(self, command: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        """Run ``command`` inside the node; fail the test with its output if it fails."""
        done = self.run(command, env, timeout)
        assert done.returncode == 0, (
            f"{self.hostname}: {command!r} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
        return done.stdout


def name_nodes(hosts: list[NamespaceHost], roles: list[tuple[str, int]]) -> list[StorageNode]:
    """Name ``hosts`` after ``roles`` (``[("server", 3), ("client", 2)]`` gives server1..3,
    client1..2, in that order) as nxc does for counts, and return the nodes."""
    names = [(role, f"{role}{i}") for role, count in roles for i in range(1, count + 1)]
    if len(names) != len(hosts):
        raise ValueError(f"{len(hosts)} hosts for {len(names)} nodes")
    return [
        StorageNode(host=host, hostname=name, role=role)
        for host, (role, name) in zip(hosts, names, strict=True)
    ]


@contextmanager
def started_nodes(
    workdir: Path,
    roles: list[tuple[str, int]],
    authorized_key: str,
    parameters: dict[str, str] | None = None,
) -> Iterator[list[StorageNode]]:
    """Nodes named after ``roles`` on namespace hosts under ``workdir`` that accept SSH with
    ``authorized_key``, each with the deployment info (and its deploy-time ``parameters``) in
    its ``/run/nxc``; everything they ran is killed and the namespaces deleted on exit."""
    hosts = NamespaceHosts(sum(n for _, n in roles), workdir, authorized_key)
    try:
        hosts.up()
        nodes = name_nodes(hosts.hosts, roles)
        info = info_document(nodes, parameters)
        for node in nodes:
            node.start(info)
        yield nodes
    finally:
        hosts.down()


def info_document(nodes: list[StorageNode], parameters: dict[str, str] | None = None) -> dict:
    """The deployment info nxc gives these nodes (docs/node-contract.md's shape)."""
    info: dict = {
        "version": 1,
        "deployment": "composition::testbed",
        "network": {"prefix_length": 24},
        "authorized_keys": [],
        "nodes": [{"hostname": n.hostname, "role": n.role, "address": n.address} for n in nodes],
    }
    if parameters:
        info["parameters"] = parameters
    return info
