"""tests/netns.py itself: hosts are isolated as promised and leave nothing behind."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHost, NamespaceHosts
from tests.transport.conftest import ClientKey, _skip_reason


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _bridge_exists(name: str) -> bool:
    done = subprocess.run(["ip", "link", "show", name], capture_output=True, text=True)
    return done.returncode == 0


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


def test_hosts_have_their_own_name_home_and_binds(client_key: ClientKey, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "mark").write_text("from the host\n")
    with NamespaceHosts(2, tmp_path / "hosts", client_key.public_line) as network:
        first = network.hosts[0]
        first.kill()
        first.start_sshd(binds={shared: "/mnt"})
        first.wait_listening()
        with SshTransport(network.hosts, client_key.path) as transport:
            result = transport.run("hostname; ls -A /root | wc -l; cat /mnt/mark 2>&1 || true")
        assert result["node1"].stdout == "node1\n0\nfrom the host\n"
        assert result["node2"].stdout.startswith("node2\n0\ncat: /mnt/mark")
        assert not list(Path("/mnt").glob("mark"))  # the bind stays inside node1


def test_teardown_removes_namespaces_and_bridge(client_key: ClientKey, tmp_path: Path) -> None:
    network = NamespaceHosts(3, tmp_path / "hosts", client_key.public_line)
    hosts = network.up()
    namespaces = [host.namespace for host in hosts]
    pids = [pid for host in hosts for pid in host.pids()]
    assert all(name in _namespaces() for name in namespaces) and _bridge_exists(network.bridge)
    network.down()
    network.down()
    assert not any(name in _namespaces() for name in namespaces)
    assert not _bridge_exists(network.bridge)
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if _running(pid)]


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class _BrokenSshd(NamespaceHosts):
    """Writes an sshd configuration sshd refuses, so that ``up()`` fails half-way."""

    def _prepare_host(self, index: int, namespace: str, address: str) -> NamespaceHost:
        host = super()._prepare_host(index, namespace, address)
        with (host.folder / "sshd_config").open("a") as config:
            config.write("NoSuchOption yes\n")
        return host


def test_a_failed_start_leaves_nothing_behind(client_key: ClientKey, tmp_path: Path) -> None:
    network = _BrokenSshd(2, tmp_path / "hosts", client_key.public_line)
    with pytest.raises(RuntimeError, match=r"sshd of node1 exited; see .*sshd\.log"):
        network.up()
    assert f"nxc-{network.run_id}-" not in _namespaces()
    assert not _bridge_exists(network.bridge)
