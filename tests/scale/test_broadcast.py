"""The TakTuk tree broadcast, for real: ``taktuk`` over OpenSSH to 16 namespace hosts.

Each host is a network namespace of :mod:`tests.netns` running a real ``sshd`` with its own
``/tmp`` (:mod:`tests.scale.lab`). This machine's client key is not readable by the hosts, so
every host-to-host connection of the tree authenticates through the ``ssh-agent`` nxc starts
and forwards. The bytes this machine sends are read from the hosts' bridge counters.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nxc.flavours.g5k import kexec
from nxc.platforms import broadcast
from nxc.platforms.broadcast import DIRECT, TREE, broadcast_files
from tests.scale.lab import BroadcastLab

pytestmark = pytest.mark.taktuk

SIZE = 6 << 20


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A multi-MB file of random bytes and a small one, by SHA-256."""
    folder = tmp_path_factory.mktemp("artefacts")
    big, small = folder / "initrd", folder / "kernel"
    big.write_bytes(os.urandom(SIZE))
    small.write_bytes(os.urandom(4096))
    return {kexec.sha256_of(path): path for path in (small, big)}


def _holds(lab: BroadcastLab, host, files: dict[str, Path]) -> bool:
    """Whether ``host`` holds every file: a regular file (no link) of the right digest."""
    for digest in files:
        remote = lab.remote_dir(host) / digest
        if remote.is_symlink() or not remote.is_file() or kexec.sha256_of(remote) != digest:
            return False
    return True


def test_every_host_gets_the_exact_bytes_and_the_frontend_sends_them_about_twice(lab, artefacts):
    before = lab.sent_bytes()
    result = broadcast_files(lab.shell(), lab.addresses, artefacts, relay_options=lab.relay_options)
    sent = lab.sent_bytes() - before

    assert result.ok, result.summary()
    assert set(result.routes.values()) == {TREE}
    assert result.notes == []
    for host in lab.hosts:
        assert _holds(lab, host, artefacts), host.hostname
        assert stat.S_IMODE(lab.remote_dir(host).stat().st_mode) == 0o700
    total = sum(path.stat().st_size for path in artefacts.values())
    # arity 2: this machine feeds two hosts; 16 direct copies would be 16x
    assert sent < 2.5 * total, f"sent {sent / total:.2f}x the files"


def test_a_host_that_is_down_fails_and_the_others_get_the_files(lab, artefacts):
    down = lab.hosts[6]
    down.kill()

    result = broadcast_files(lab.shell(), lab.addresses, artefacts, relay_options=lab.relay_options)

    assert list(result.failed) == [down.address]
    assert "Connection refused" in result.failed[down.address]
    for host in lab.hosts:
        assert _holds(lab, host, artefacts) == (host is not down), host.hostname


def test_links_planted_at_the_destination_are_not_followed(lab, artefacts, tmp_path):
    """On one host someone made the folder beforehand (root's, world-readable) with a link
    named by each digest to a precious file; on another the folder itself is a link."""
    precious = tmp_path / "precious"
    precious.write_text("not to be overwritten")
    planted, linked = lab.hosts[3], lab.hosts[9]
    lab.remote_dir(planted).mkdir(mode=0o755)
    for digest in artefacts:
        (lab.remote_dir(planted) / digest).symlink_to(precious)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lab.remote_dir(linked).symlink_to(elsewhere)

    result = broadcast_files(lab.shell(), lab.addresses, artefacts, relay_options=lab.relay_options)

    assert precious.read_text() == "not to be overwritten"
    assert list(elsewhere.iterdir()) == []
    assert list(result.failed) == [linked.address]
    assert "is not a folder" in result.failed[linked.address]
    assert _holds(lab, planted, artefacts)
    assert stat.S_IMODE(lab.remote_dir(planted).stat().st_mode) == 0o700


def test_hosts_that_cannot_reach_each_other_are_copied_directly_and_the_result_says_so(
    lab, artefacts
):
    lab.isolate()

    result = broadcast_files(lab.shell(), lab.addresses, artefacts, relay_options=lab.relay_options)

    assert result.ok, result.summary()
    assert DIRECT in result.routes.values()
    # only this machine's own children can be reached through TakTuk
    assert list(result.routes.values()).count(TREE) <= broadcast.DEFAULT_ARITY
    assert any("hosts cannot reach each other" in note for note in result.notes), result.notes
    for host in lab.hosts:
        assert _holds(lab, host, artefacts), host.hostname


def test_few_hosts_get_the_parallel_copy(lab, artefacts):
    few = lab.addresses[:3]
    result = broadcast_files(lab.shell(), few, artefacts, relay_options=lab.relay_options)
    assert result.ok, result.summary()
    assert set(result.routes.values()) == {DIRECT}
    assert result.notes == [f"parallel copy: fewer than {broadcast.TREE_MIN_HOSTS} hosts"]
    for host in lab.hosts[:3]:
        assert _holds(lab, host, artefacts)


def test_the_tree_is_bounded_in_time(lab, artefacts):
    """A limit too short for the copy: TakTuk is killed with what it started, and the hosts
    without a verdict are pushed directly, the notes saying why."""
    result = broadcast_files(
        lab.shell(), lab.addresses, artefacts, relay_options=lab.relay_options, timeout=1
    )
    assert any("limit" in note for note in result.notes), result.notes
    assert result.ok, result.summary()


def test_a_host_taktuk_cannot_start_on_gets_the_parallel_copy(lab, artefacts, tmp_path):
    """On one host ``perl`` (which TakTuk's self-propagation runs) fails: that host is pushed
    directly, the others still get the tree, and the notes name the host."""
    broken = lab.hosts[0]
    fake_perl = tmp_path / "perl"
    fake_perl.write_text("#!/bin/sh\necho 'perl: broken on purpose' >&2\nexit 1\n")
    fake_perl.chmod(0o755)
    broken.kill()
    # the fake perl first: once /tmp is the host's own, this machine's tmp_path is hidden
    broken.start_sshd(binds={fake_perl: "/usr/bin/perl", lab.tmp_of(broken): "/tmp"})
    broken.wait_listening()
    try:
        result = broadcast_files(
            lab.shell(), lab.addresses, artefacts, relay_options=lab.relay_options
        )
    finally:
        broken.kill()  # the lab fixture starts it again without the broken perl

    assert result.ok, result.summary()
    assert result.routes[broken.address] == DIRECT
    assert list(result.routes.values()).count(TREE) == len(lab.hosts) - 1
    assert any(
        note.startswith("TakTuk did not start on 1 host(s)") and broken.address in note
        for note in result.notes
    ), result.notes
    for host in lab.hosts:
        assert _holds(lab, host, artefacts), host.hostname
