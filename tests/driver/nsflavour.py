"""A flavour over network-namespace hosts (``tests/netns.py``), for the driver's tests.

Each node is a namespace running a real OpenSSH server, reached through nxc's real SSH
transport. The lifecycle hooks act on those real processes: ``crash_node`` kills every process
of the namespace, ``shutdown_node`` terminates them, ``start_node`` starts sshd again,
``reboot_node`` does both, ``block_node`` blackholes the routes to the other nodes (the host
still reaches the node). Namespaces have no console: this flavour writes the lines a booting
node would print (``nxc-ready <hostname>``, a power-down line) to a console log file, so that
``wait_for_console_text`` has a real file to follow. Nodes carry ``namespace`` and ``folder``
in ``Node.extra``; the flavour keeps no other state. ``start_node`` gives each node its own
mount namespace where the deployment's shared folder is ``/tmp/shared`` (the mount point
must exist on the host: the fixtures create it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from nxc.deployment import Deployment, DeploymentStore, Node, NodeState
from nxc.flavours.base import Flavour, LiveState
from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHost

FLAVOUR_NAME = "netnstest"
REGISTRY_ENTRY = "tests.driver.nsflavour:NamespaceFlavour"


def namespace_node(host: NamespaceHost, role: str, host_key: str | None = None) -> Node:
    """A ready deployment node for ``host`` (``host_key`` overrides the host's own sshd key)."""
    return Node(
        hostname=host.hostname,
        role=role,
        address=host.address,
        ssh_host=host.ssh_host,
        host_key=host_key or host.host_key,
        state=NodeState.ready,
        extra={"namespace": host.namespace, "folder": str(host.folder)},
    )


def namespace_host(node: Node) -> NamespaceHost:
    """The namespace host behind ``node``."""
    return NamespaceHost(
        hostname=node.hostname,
        namespace=node.extra["namespace"],
        address=node.address,
        folder=Path(node.extra["folder"]),
        host_key=node.host_key or "",
        role=node.role,
    )


def start_sshd(host: NamespaceHost, shared_dir: Path) -> None:
    """Start the host's sshd in its network namespace, with its own hostname and mount
    namespace where ``shared_dir`` is bind-mounted on ``/tmp/shared``, as on a real node."""
    script = (
        'hostname "$1" && mount --make-rprivate / && mount --bind "$4" /tmp/shared '
        '&& exec "$2" -D -e -f "$3"'
    )
    argv = [
        "nsenter",
        f"--net=/run/netns/{host.namespace}",
        "unshare",
        "--uts",
        "--mount",
        "sh",
        "-c",
        script,
        "sh",
        host.hostname,
        shutil.which("sshd") or "/usr/sbin/sshd",
        str(host.folder / "sshd_config"),
        str(shared_dir),
    ]
    with open(host.log_path, "ab") as log:
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


def console_path(node: Node) -> Path:
    """The console log file this flavour writes for ``node``."""
    return Path(node.extra["folder"]) / "console.log"


def write_console(node: Node, line: str) -> None:
    """Append one console line for ``node``."""
    with console_path(node).open("a") as console:
        console.write(line + "\n")


class NamespaceFlavour(Flavour):
    """Nodes are network namespaces with a real sshd (see the module docstring)."""

    name: ClassVar[str] = FLAVOUR_NAME

    def start(self, deployment, manifest, store, progress=None) -> None:  # type: ignore[override]
        raise NotImplementedError("namespace hosts are started by tests/netns.py")

    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        for node in deployment.nodes:
            namespace_host(node).kill()

    def probe(self, deployment: Deployment) -> dict[str, LiveState]:
        states = {}
        for node in deployment.nodes:
            host = namespace_host(node)
            if not host.pids():
                states[node.hostname] = LiveState.DEAD
            elif host.listening():
                states[node.hostname] = LiveState.READY
            else:
                states[node.hostname] = LiveState.RUNNING
        return states

    def transport(self, deployment: Deployment, store: DeploymentStore) -> SshTransport:
        return SshTransport(
            deployment.nodes,
            store.client_key_path(deployment.name),
            known_hosts=store.known_hosts_path(deployment.name),
            connect_timeout=5.0,
        )

    def start_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        node = deployment.node(hostname)
        host = namespace_host(node)
        if host.pids():
            return
        start_sshd(host, Path(deployment.resources["shared_dir"]))
        host.wait_listening()
        write_console(node, f"nxc-ready {hostname}")

    def shutdown_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        node = deployment.node(hostname)
        host = namespace_host(node)
        for pid in host.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        _wait_until_empty(host)
        host.kill()
        _wait_until_empty(host)
        write_console(node, "reboot: Power down")

    def crash_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        host = namespace_host(deployment.node(hostname))
        host.kill()
        _wait_until_empty(host)

    def reboot_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        self.shutdown_node(deployment, store, hostname)
        self.start_node(deployment, store, hostname)

    def block_node(self, deployment: Deployment, hostname: str) -> None:
        self._routes(deployment, hostname, "add")

    def unblock_node(self, deployment: Deployment, hostname: str) -> None:
        self._routes(deployment, hostname, "del")

    def console_log(self, deployment: Deployment, hostname: str) -> Path:
        return console_path(deployment.node(hostname))

    def _routes(self, deployment: Deployment, hostname: str, action: str) -> None:
        node = deployment.node(hostname)
        for other in deployment.nodes:
            if other.hostname != hostname:
                subprocess.run(
                    [
                        "ip",
                        "-n",
                        node.extra["namespace"],
                        "route",
                        action,
                        "blackhole",
                        f"{other.address}/32",
                    ],
                    capture_output=True,
                    check=False,
                )


def _wait_until_empty(host: NamespaceHost, timeout: float = 10.0) -> None:
    """Wait until no process is left in the host's namespace (signals take a moment)."""
    deadline = time.monotonic() + timeout
    while host.pids() and time.monotonic() < deadline:
        time.sleep(0.05)
