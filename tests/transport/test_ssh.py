"""The asyncssh transport against namespace hosts running real OpenSSH servers."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from nxc.errors import InputError, TransportError
from nxc.keys import generate_keypair
from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHost, NamespaceHosts
from tests.transport.conftest import ClientKey, Endpoint


def test_runs_on_16_hosts_each_answering_for_itself(
    hosts16: NamespaceHosts, client_key: ClientKey
) -> None:
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        result = transport.run("echo $(hostname) $(ip -4 -o addr show dev eth0 | awk '{print $4}')")
    assert result.ok, result.summary()
    assert len(result) == 16
    for host in hosts16.hosts:
        assert result[host.hostname].stdout.split() == [host.hostname, f"{host.address}/24"]
        assert result[host.hostname].stderr == ""
        assert result[host.hostname].duration > 0


def test_connection_is_opened_once_and_reused(
    hosts16: NamespaceHosts, client_key: ClientKey
) -> None:
    host = hosts16.hosts[0].hostname
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        first = transport.run_one(host, "echo $SSH_CLIENT").check()
        second = transport.run_one(host, "echo $SSH_CLIENT").check()
        started = time.monotonic()
        for _ in range(20):
            transport.run_one(host, "true").check()
        per_call = (time.monotonic() - started) / 20
    assert first.stdout == second.stdout  # same client port: the same TCP connection
    assert per_call < 0.1


def test_reports_each_hosts_failure_without_stopping_the_others(
    hosts16: NamespaceHosts, client_key: ClientKey
) -> None:
    command = (
        "case $(hostname) in node3) exit 3;; node5) echo boom >&2; exit 1;; "
        "node7) kill -KILL $$;; esac; echo fine"
    )
    dead_port = Endpoint("ghost", hosts16.hosts[0].address, 1, hosts16.hosts[0].host_key)
    endpoints = [*hosts16.hosts, dead_port]
    with SshTransport(endpoints, client_key.path, connect_timeout=1.0) as transport:
        result = transport.run(command)
    assert {r.host for r in result.failed} == {"node3", "node5", "node7", "ghost"}
    assert len(result.succeeded) == 13
    assert all(r.stdout == "fine\n" for r in result.succeeded)
    assert result["node3"].exit_status == 3
    assert (result["node5"].exit_status, result["node5"].stderr) == (1, "boom\n")
    assert result["node7"].exit_status == -9
    assert result["node7"].describe_failure() == "killed by signal 9"
    assert result["ghost"].exit_status is None
    assert "cannot connect to ghost" in result["ghost"].error
    assert "Connection refused" in result["ghost"].error
    assert result.summary().startswith("4/17 failed: node3 (exit status 3), node5 (exit status 1)")
    with pytest.raises(TransportError, match=r"node7 \(killed by signal 9\)"):
        result.check()
    with pytest.raises(TransportError, match=r"^node5: exit status 1: boom$"):
        result["node5"].check()


def _processes_with_argument(host: NamespaceHost, word: str) -> list[int]:
    found = []
    for pid in host.pids():
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if word.encode() in arguments:
            found.append(pid)
    return found


def test_command_timeout_stops_the_remote_command(
    hosts16: NamespaceHosts, client_key: ClientKey
) -> None:
    host = hosts16.hosts[1]
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        started = time.monotonic()
        result = transport.run_one(host.hostname, "echo started; sleep 31.7; echo never", timeout=1)
        elapsed = time.monotonic() - started
        assert result.timed_out
        assert result.error == "timed out after 1 s"
        assert result.stdout == "started\n"
        assert 1 <= elapsed < 5
        deadline = time.monotonic() + 5
        while _processes_with_argument(host, "31.7") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_with_argument(host, "31.7") == []
        assert transport.run_one(host.hostname, "echo still usable").check().stdout == (
            "still usable\n"
        )


def test_a_host_presenting_another_key_is_refused(
    hosts16: NamespaceHosts, client_key: ClientKey
) -> None:
    real = hosts16.hosts[2]
    impostor_key = generate_keypair("not-the-node").public_line
    endpoint = Endpoint(real.hostname, real.ssh_host, real.ssh_port, impostor_key)
    with SshTransport([endpoint], client_key.path) as transport:
        result = transport.run_one(real.hostname, "echo should not run")
    assert result.exit_status is None and result.stdout == ""
    assert "presented a host key that is not the one pinned in the deployment" in result.error
    with pytest.raises(TransportError, match=f"^{real.hostname} \\(root@{real.address}:22\\)"):
        result.check()


def test_a_node_without_pinned_key_is_an_input_error(
    hosts16: NamespaceHosts, client_key: ClientKey
) -> None:
    real = hosts16.hosts[0]
    endpoint = Endpoint(real.hostname, real.ssh_host, 22, None)
    with pytest.raises(InputError, match="node1 has no pinned host key"):
        SshTransport([endpoint], client_key.path)


def test_reconnects_after_the_node_restarts(hosts2: NamespaceHosts, client_key: ClientKey) -> None:
    host = hosts2.hosts[0]
    with SshTransport(hosts2.hosts, client_key.path, connect_timeout=15) as transport:
        before = transport.run_one(host.hostname, "echo $SSH_CLIENT").check().stdout
        host.kill()  # every process of the node, as a reboot would
        restarter = threading.Timer(1.5, host.start_sshd)
        restarter.start()
        try:
            started = time.monotonic()
            after = transport.run_one(host.hostname, "echo $SSH_CLIENT").check().stdout
            waited = time.monotonic() - started
        finally:
            restarter.join()
        assert before != after  # a new connection
        assert 1.0 < waited < 10
        assert transport.run_one(host.hostname, "true").ok


def test_a_node_down_longer_than_the_connect_timeout_fails_clearly(
    hosts2: NamespaceHosts, client_key: ClientKey
) -> None:
    host = hosts2.hosts[1]
    with SshTransport(hosts2.hosts, client_key.path, connect_timeout=1.5) as transport:
        transport.run_one(host.hostname, "true").check()
        host.kill()
        result = transport.run_one(host.hostname, "true")
        assert "cannot connect to node2" in result.error and "within 1.5 s" in result.error
        host.start_sshd()
        ready = transport.wait_ready([host.hostname], timeout=10)
        assert ready.ok, ready.summary()


def test_wait_ready_times_out_naming_the_node(
    hosts2: NamespaceHosts, client_key: ClientKey
) -> None:
    host = hosts2.hosts[0]
    host.kill()
    with SshTransport(hosts2.hosts, client_key.path, connect_timeout=0.5) as transport:
        started = time.monotonic()
        result = transport.wait_ready(timeout=2)
    assert time.monotonic() - started < 6
    assert [r.host for r in result.failed] == ["node1"]
    assert result["node1"].error.startswith("not ready after 2 s")


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_put_and_get_roundtrip(
    hosts16: NamespaceHosts, client_key: ClientKey, tmp_path: Path
) -> None:
    source = tmp_path / "payload"
    (source / "sub").mkdir(parents=True)
    (source / "blob.bin").write_bytes(os.urandom(300_000))
    (source / "sub" / "note.txt").write_text("hello nodes\n")
    (source / "sub" / "note.txt").chmod(0o640)
    targets = [host.hostname for host in hosts16.hosts[:3]]
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        put = transport.put(source, "/root/payload", targets)
        assert put.ok, put.summary()
        # /root is private to each node: every node got its own copy
        listed = transport.run(
            "sha256sum /root/payload/blob.bin; stat -c %a /root/payload/sub/note.txt", targets
        )
        expected = hashlib.sha256((source / "blob.bin").read_bytes()).hexdigest()
        for result in listed:
            digest, mode = result.check().stdout.split()[0], result.stdout.split()[-1]
            assert (digest, mode) == (expected, "640")
        transport.run_one(targets[1], "echo changed > /root/payload/sub/note.txt").check()
        back = tmp_path / "back"
        transport.get(targets[1], "/root/payload", back).check()
        missing = transport.get(targets[0], "/root/no-such-file", tmp_path / "none")
        bad_put = transport.put(source / "blob.bin", "/no/such/folder/blob.bin", targets[:1])
    assert (back / "sub" / "note.txt").read_text() == "changed\n"
    assert _tree_digest(back)["blob.bin"] == _tree_digest(source)["blob.bin"]
    assert not missing.ok and "/root/no-such-file" in missing.error
    assert not bad_put.ok and "/no/such/folder/blob.bin" in bad_put[targets[0]].error


def test_put_of_a_missing_local_file_is_an_input_error(
    hosts16: NamespaceHosts, client_key: ClientKey, tmp_path: Path
) -> None:
    with (
        SshTransport(hosts16.hosts, client_key.path) as transport,
        pytest.raises(InputError, match="does-not-exist to the nodes: it does not exist"),
    ):
        transport.put(tmp_path / "does-not-exist", "/root/x")


def test_concurrency_bound_is_respected(
    hosts16: NamespaceHosts, client_key: ClientKey, tmp_path: Path
) -> None:
    # /tmp is shared by the namespace hosts: count running commands in a file under a lock
    counter, peak, lock = tmp_path / "running", tmp_path / "peak", tmp_path / "lock"
    counter.write_text("0\n")
    peak.write_text("0\n")
    bump = (
        f"flock {lock} sh -c 'n=$(($(cat {counter}) + ({{0}}))); echo $n > {counter}; "
        f"[ $n -gt $(cat {peak}) ] && echo $n > {peak}; true'"
    )
    command = f"{bump.format(1)}; sleep 0.5; {bump.format(-1)}"
    with SshTransport(hosts16.hosts, client_key.path, max_concurrency=4) as transport:
        transport.run("true").check()  # connections first: only the commands are timed
        started = time.monotonic()
        result = transport.run(command)
        elapsed = time.monotonic() - started
    assert result.ok, result.summary()
    assert int(peak.read_text()) == 4
    assert int(counter.read_text()) == 0
    assert elapsed >= 4 * 0.5  # 16 commands, 4 at a time


def test_output_lines_are_streamed_per_host(hosts16: NamespaceHosts, client_key: ClientKey) -> None:
    lines: list[tuple[str, str, str]] = []
    targets = ["node1", "node2"]
    command = "echo one; echo two >&2; printf 'no newline'"
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        result = transport.run(command, targets, on_output=lambda *line: lines.append(line))
    assert result.ok
    for host in targets:
        assert [line for line in lines if line[0] == host and line[1] == "stdout"] == [
            (host, "stdout", "one"),
            (host, "stdout", "no newline"),
        ]
        assert (host, "stderr", "two") in lines
        assert result[host].stdout == "one\nno newline"
        assert result[host].stderr == "two\n"


def test_argument_lists_are_quoted(hosts16: NamespaceHosts, client_key: ClientKey) -> None:
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        result = transport.run_one("node1", ["printf", "%s|", "a b", "$HOME", "it's"]).check()
    assert result.stdout == "a b|$HOME|it's|"


def test_unknown_host_is_an_input_error(hosts16: NamespaceHosts, client_key: ClientKey) -> None:
    with SshTransport(hosts16.hosts, client_key.path) as transport:
        with pytest.raises(InputError, match="unknown node nodeX"):
            transport.run("true", ["node1", "nodeX"])
        with pytest.raises(InputError, match="unknown node nodeY"):
            transport.run_one("nodeY", "true")


def test_closing_is_clean_and_final(hosts16: NamespaceHosts, client_key: ClientKey) -> None:
    threads_before = threading.active_count()
    transport = SshTransport(hosts16.hosts, client_key.path)
    assert transport.run("true").ok
    transport.close()
    transport.close()
    assert threading.active_count() == threads_before
    with pytest.raises(TransportError, match="closed"):
        transport.run("true")


def test_missing_client_key_is_an_input_error(hosts16: NamespaceHosts, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the deployment's client key"):
        SshTransport(hosts16.hosts, tmp_path / "nothing")
