"""nxc.keys: client key files, pinned known_hosts, and OpenSSH honouring them for real."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from nxc.errors import InputError
from nxc.keys import (
    ensure_client_key,
    ensure_keypair,
    generate_keypair,
    known_hosts_lines,
    ssh_argv,
    write_known_hosts,
)
from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHosts
from tests.transport.conftest import ClientKey, Endpoint


def test_client_key_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "id_ed25519"
    public = ensure_client_key(path, "nxc:comp::vm")
    assert path.stat().st_mode & 0o777 == 0o600
    assert public.startswith("ssh-ed25519 ") and public.endswith(" nxc:comp::vm")
    assert (tmp_path / "state" / "id_ed25519.pub").read_text() == public + "\n"
    assert ensure_client_key(path, "ignored") == public
    assert sorted(p.name for p in path.parent.iterdir()) == ["id_ed25519", "id_ed25519.pub"]


def test_a_client_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "id_ed25519"
    ensure_client_key(path, "x")
    path.chmod(0o644)
    with pytest.raises(InputError, match=r"readable by other users.*chmod 600"):
        ensure_client_key(path, "x")


def test_a_kept_keypair_is_read_back_whole(tmp_path: Path) -> None:
    """The deployment's root key: generated once, the same pair at every later start."""
    path = tmp_path / "secrets" / "root_key"
    first = ensure_keypair(path, "nxc:comp::vm:root")
    assert path.stat().st_mode & 0o777 == 0o600
    again = ensure_keypair(path, "ignored")
    assert again.public_line == first.public_line
    assert again.private_openssh == first.private_openssh
    path.chmod(0o640)
    with pytest.raises(InputError, match=r"key .*root_key is readable by other users"):
        ensure_keypair(path, "x")


def test_every_keypair_is_new() -> None:
    first, second = generate_keypair("a"), generate_keypair("a")
    assert first.public_line != second.public_line
    assert first.private_openssh.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "PRIVATE" not in repr(first)


def test_known_hosts_lines_use_openssh_port_syntax() -> None:
    key = generate_keypair("node1-host-key").public_line
    key_fields = " ".join(key.split()[:2])
    lines = known_hosts_lines(
        [
            Endpoint("node1", "10.0.0.1", 22, key),
            Endpoint("node2", "127.0.0.1", 2202, key),
            Endpoint("node3", "node3", 22, key),
        ]
    )
    assert lines == [
        f"10.0.0.1,node1 {key_fields}",
        f"[127.0.0.1]:2202,node2 {key_fields}",
        f"node3 {key_fields}",
    ]


@pytest.mark.parametrize(
    ("host_key", "message"),
    [(None, "node1 has no pinned host key"), ("garbage", "not an OpenSSH public key line")],
)
def test_known_hosts_refuses_missing_or_bad_keys(host_key: str | None, message: str) -> None:
    with pytest.raises(InputError, match=message):
        known_hosts_lines([Endpoint("node1", "10.0.0.1", 22, host_key)])


def test_openssh_accepts_the_pinned_keys_and_refuses_others(
    hosts16: NamespaceHosts, client_key: ClientKey, tmp_path: Path
) -> None:
    host = hosts16.hosts[4]
    known_hosts = tmp_path / "known_hosts"
    write_known_hosts(known_hosts, hosts16.hosts)
    argv = ssh_argv(host, client_key.path, known_hosts, "hostname", batch=True)
    assert "StrictHostKeyChecking=yes" in argv and "StrictHostKeyChecking=no" not in argv
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (0, f"{host.hostname}\n")

    other = Endpoint(host.hostname, host.ssh_host, 22, generate_keypair("other").public_line)
    wrong = tmp_path / "wrong_known_hosts"
    write_known_hosts(wrong, [other])
    refused = subprocess.run(
        ssh_argv(host, client_key.path, wrong, "hostname", batch=True),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr
    assert refused.stdout == ""


def test_interactive_argv_logs_into_the_node(
    hosts16: NamespaceHosts, client_key: ClientKey, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    write_known_hosts(known_hosts, hosts16.hosts)
    with SshTransport(hosts16.hosts, client_key.path, known_hosts=known_hosts) as transport:
        argv = transport.interactive_argv("node6", ["hostname"])
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stdout) == (0, "node6\n")
