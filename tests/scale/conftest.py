"""Fixtures for broadcasts to many hosts: namespace hosts with their own ``/tmp`` (needs root).

``lab`` (module scope) is a :class:`tests.scale.lab.BroadcastLab` of :data:`HOST_COUNT` hosts;
before and after each test every host's ``/tmp`` is emptied, every host runs its sshd and the
bridge ports are not isolated.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.lab import BroadcastLab

HOST_COUNT = 16


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


@pytest.fixture(scope="module")
def broadcast_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BroadcastLab]:
    if os.geteuid() != 0:
        pytest.skip("namespace hosts need root")
    for tool in ("ip", "nsenter", "unshare", "sshd", "ssh", "ssh-agent", "taktuk", "perl"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"broadcast tests need {tool}")
    with BroadcastLab(HOST_COUNT, tmp_path_factory.mktemp("scale")) as lab:
        yield lab


@pytest.fixture
def lab(broadcast_lab: BroadcastLab) -> Iterator[BroadcastLab]:
    """The hosts, each with an empty ``/tmp`` and a running sshd, able to reach each other."""

    def reset() -> None:
        broadcast_lab.isolate(False)
        for host in broadcast_lab.hosts:
            _empty(broadcast_lab.tmp_of(host))
            if not host.listening():
                host.kill()
                host.start_sshd(binds={broadcast_lab.tmp_of(host): "/tmp"})
                host.wait_listening()

    reset()
    yield broadcast_lab
    reset()
