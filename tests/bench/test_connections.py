"""One SSH connection per client for a whole sweep: the runner's OpenSSH masters, observed
from the nodes' side. Nodes are namespace hosts running real sshd (``tests/recorded.py``);
each command prints ``$SSH_CONNECTION``, whose client port names the TCP connection it came
through."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import nxc
from nxc.bench.runner import Clients
from tests.recorded import recorded_project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose deployment is two client nodes (namespace hosts)."""
    root = tmp_path_factory.mktemp("project")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ["client", "client"]) as path:
        yield path


def _client_ports(clients: Clients, rounds: int) -> dict[str, set[str]]:
    """Per host, the client ports of ``rounds`` commands run on every client."""
    ports: dict[str, set[str]] = {}
    for _ in range(rounds):
        commands = ['echo "$SSH_CONNECTION"'] * len(clients.nodes)
        for host, process in clients.run(commands, 30, "probe"):
            assert process.finished_ok and not process.timeouted, process.stderr
            ports.setdefault(host, set()).add(process.stdout.split()[1])
    return ports


def _masters(control_dir: Path) -> list[str]:
    """Pids of the ssh processes using ``control_dir``."""
    found = subprocess.run(["pgrep", "-f", f"ControlPath={control_dir}/"],
                           capture_output=True, text=True)  # fmt: skip
    return found.stdout.split()


def test_every_run_goes_through_one_connection_per_client(project: Path) -> None:
    with nxc.open_deployment(project=project) as env, Clients(env, "client") as clients:
        control_dir = Path(clients._control_dir or "")
        assert control_dir.is_dir() and len(list(control_dir.iterdir())) == 2
        assert len(_masters(control_dir)) == 2
        ports = _client_ports(clients, rounds=4)
    assert sorted(ports) == ["node1", "node2"]
    assert all(len(found) == 1 for found in ports.values()), ports
    # closed on exit: the master processes, their sockets and their folder are gone
    assert _masters(control_dir) == []
    assert not control_dir.exists()


def test_without_reuse_each_run_connects_anew(project: Path) -> None:
    with (
        nxc.open_deployment(project=project) as env,
        Clients(env, "client", reuse_connections=False) as clients,
    ):
        assert clients._control_dir is None
        ports = _client_ports(clients, rounds=4)
    assert all(len(found) == 4 for found in ports.values()), ports


def test_unreachable_master_falls_back_to_the_runs_own_connection(project: Path) -> None:
    """A master that cannot start (its socket folder is gone) leaves runs working."""
    with nxc.open_deployment(project=project) as env, Clients(env, "client") as clients:
        clients.close()
        clients._control_dir = None
        ports = _client_ports(clients, rounds=2)
    assert all(len(found) == 2 for found in ports.values()), ports
