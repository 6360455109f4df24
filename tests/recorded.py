"""A project whose recorded deployment is namespace hosts running real sshd (needs root).

Shared by the tests of commands and APIs that open a recorded deployment (connect, run, the
Python API): the record is the real one nxc writes, the nodes are real SSH servers.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState
from nxc.keys import ensure_client_key
from tests.transport.conftest import _hosts


@dataclass(frozen=True)
class _Key:
    public_line: str


@contextmanager
def recorded_project(
    root: Path, nodes_dir: Path, roles: Sequence[str], tag: str | None = None
) -> Iterator[Path]:
    """Yield ``root``, a project with one running deployment ``demo::vm[::tag]`` whose nodes
    (one per entry of ``roles``, named node1..nodeN) are namespace hosts; torn down after."""
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    store = DeploymentStore(root / "deploy")
    deployment = Deployment("demo", "vm", tag, [], state=DeploymentState.running)
    public = ensure_client_key(store.client_key_path(deployment.name), f"nxc:{deployment.name}")
    for network in _hosts(len(roles), nodes_dir, _Key(public)):
        deployment.nodes = [
            Node(host.hostname, role, host.address, host.ssh_host, host_key=host.host_key,
                 state=NodeState.ready)
            for host, role in zip(network.hosts, roles, strict=True)
        ]  # fmt: skip
        store.save(deployment)
        yield root
