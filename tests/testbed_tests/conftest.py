"""Fixtures for the test-bed guest's tests: a built guest, keys, a VDE switch, QEMU guests.

Every process a fixture starts is stopped by its pid in a finalizer, even when the test fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.testbed.build import Artifacts, build
from tests.testbed.launch import Guest, GuestConfig, VdeSwitch, free_port, pinned_known_hosts

BOOT_TIMEOUT = 240.0


@pytest.fixture(scope="session")
def busybox_guest(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The busybox variant, built (or taken from the cache) once per session."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is needed to fetch the guest's Debian packages")
    return build("busybox", tmp_path_factory.mktemp("testbed-busybox"))


@pytest.fixture(scope="session")
def systemd_guest(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The systemd variant, built (or taken from the cache) once per session."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is needed to fetch the guest's Debian packages")
    return build("systemd", tmp_path_factory.mktemp("testbed-systemd"))


@dataclass
class KeyPair:
    """An ed25519 key pair on disk."""

    private: Path

    @property
    def public(self) -> str:
        """The public key line."""
        return self.private.with_suffix(".pub").read_text().strip()


@pytest.fixture
def make_key(tmp_path: Path) -> Callable[[str], KeyPair]:
    """Create ed25519 key pairs with ssh-keygen."""

    def make(name: str) -> KeyPair:
        path = tmp_path / "keys" / name
        path.parent.mkdir(exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)],
            check=True,
        )
        return KeyPair(path)

    return make


@pytest.fixture
def vde_switch(tmp_path: Path) -> Iterator[VdeSwitch]:
    """A running vde_switch, stopped at teardown."""
    switch = VdeSwitch(tmp_path)
    switch.start()
    yield switch
    switch.stop()


@dataclass
class Node:
    """A booted (or booting) guest with what a test needs to reach it."""

    guest: Guest
    host_key: KeyPair
    port: int
    known_hosts: Path


def deployment_info(client: KeyPair, nodes: list[dict], **extra: object) -> dict:
    """A deployment info document as nxc writes it (docs/node-contract.md)."""
    return {
        "version": 1,
        "deployment": "testbed::vm",
        "network": {"prefix_length": 16},
        "authorized_keys": [client.public],
        "nodes": nodes,
        **extra,
    }


def node_entry(index: int, **extra: object) -> dict:
    """Entry ``index`` (1-based) of a deployment: node<i>, 10.23.0.<i>, a fixed MAC."""
    return {
        "hostname": f"node{index}",
        "role": "node",
        "address": f"10.23.0.{index}",
        "mac": f"52:54:00:17:00:{index:02x}",
        **extra,
    }


@pytest.fixture
def launch(
    tmp_path: Path, busybox_guest: Artifacts, make_key: Callable[[str], KeyPair]
) -> Iterator[Callable[..., Node]]:
    """Start guests (busybox variant unless ``artifacts`` says otherwise); all killed at teardown."""
    started: list[Guest] = []

    def start(
        name: str, info: dict | None, artifacts: Artifacts | None = None, **config: object
    ) -> Node:
        guest_files = artifacts or busybox_guest
        host_key = make_key(f"host-{name}")
        port = free_port()
        guest = Guest(
            GuestConfig(
                name=name,
                kernel=guest_files.kernel,
                initrd=guest_files.initrd,
                workdir=tmp_path / "guests",
                info=info,
                host_key=host_key.private.read_bytes(),
                ssh_port=port,
                **config,  # type: ignore[arg-type]
            )
        )
        started.append(guest)
        guest.start()
        known_hosts = pinned_known_hosts(tmp_path / f"known_hosts-{name}", host_key.public)
        return Node(guest, host_key, port, known_hosts)

    yield start
    for guest in started:
        guest.stop()


def write_json(path: Path, data: dict) -> Path:
    """Write ``data`` as JSON to ``path``."""
    path.write_text(json.dumps(data))
    return path


__all__ = ["BOOT_TIMEOUT", "KeyPair", "Node", "deployment_info", "node_entry", "write_json"]
