"""The systemd variant: real systemd as PID 1 runs the node contract as units (QEMU, TCG)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.testbed.build import Artifacts
from tests.testbed.launch import wait_for_ssh
from tests.testbed_tests.conftest import BOOT_TIMEOUT, KeyPair, Node, deployment_info, node_entry
from tests.testbed_tests.test_boot import ssh

pytestmark = pytest.mark.vm


def test_systemd_guest_runs_the_contract_as_units(
    launch: Callable[..., Node],
    make_key: Callable[[str], KeyPair],
    systemd_guest: Artifacts,
    vde_switch,
) -> None:
    """systemd is PID 1; nxc-setup, sshd and nxc-ready units are active; contract applied."""
    client = make_key("client")
    nodes = [node_entry(1), node_entry(2)]
    node = launch(
        "node1",
        deployment_info(client, nodes),
        artifacts=systemd_guest,
        memory_mb=systemd_guest.info()["min_memory_mb"],
        vde_socket=vde_switch.socket,
        mac=nodes[0]["mac"],
    )
    ready = node.guest.wait_for_console("nxc-ready node1", BOOT_TIMEOUT)
    wait_for_ssh(node.port, client.private, node.known_hosts, BOOT_TIMEOUT)
    to_ssh = time.monotonic() - node.guest.started_at
    print(
        f"\ntestbed systemd: nxc-ready after {ready:.1f} s, SSH after {to_ssh:.1f} s, "
        f"QEMU RSS {node.guest.rss_kib() / 1024:.0f} MiB"
    )
    assert ssh(node, client, "readlink /proc/1/exe").strip().endswith("/systemd")
    states = ssh(
        node, client, "systemctl is-active nxc-setup.service sshd.service nxc-ready.service"
    )
    assert states.split() == ["active", "active", "active"]
    assert ssh(node, client, "hostname").strip() == "node1"
    assert "10.23.0.2 node2" in ssh(node, client, "cat /etc/hosts")
