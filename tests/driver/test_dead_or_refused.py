"""Nodes no wait can bring back: one presenting another host key, one whose machine died.

The nodes are namespace hosts with a real sshd (see ``nsflavour.py``). The impostor case pins
a freshly generated key for a real node, so its real sshd presents a key other than the pinned
one; the dead case kills a node's processes behind the script's back. The waits are given
900 s: before the fix they waited all of it.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
from pathlib import Path

import pytest

from nxc import keys
from nxc.driver.deployment_backend import open_driver
from nxc.driver.logger import DriverLogger
from nxc.errors import NodeUnusableError


def _fingerprint(public_line: str, tmp_path: Path) -> str:
    """The SHA256 fingerprint OpenSSH's ssh-keygen gives the key."""
    path = tmp_path / "key.pub"
    path.write_text(public_line + "\n")
    return subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()[1]  # fmt: skip


@pytest.fixture
def impostor_driver(ns_deployment, ns_flavour, tmp_path):
    """A driver whose record pins another key for node-2 (the record on disk is unchanged)."""
    deployment = ns_deployment.deployment
    wrong = keys.generate_keypair("not-node-2").public_line
    nodes = [
        dataclasses.replace(node, host_key=wrong) if node.hostname == "node-2" else node
        for node in deployment.nodes
    ]
    pinned_wrong = dataclasses.replace(deployment, nodes=nodes)
    logger = DriverLogger(stream=io.StringIO(), color=False)
    with ns_flavour.transport(pinned_wrong, ns_deployment.store) as transport:
        yield open_driver(
            pinned_wrong, ns_deployment.store, ns_flavour, transport, logger, boot_timeout=900
        )


def test_a_host_key_mismatch_fails_at_once_naming_node_and_fingerprint(
    impostor_driver, ns_deployment, tmp_path
):
    real_key = ns_deployment.deployment.node("node-2").host_key
    presented = _fingerprint(real_key, tmp_path)
    node = impostor_driver.machines[1]
    with pytest.raises(NodeUnusableError) as raised:
        node.succeed("true")
    message = str(raised.value)
    assert message.startswith("node-2 (root@")
    assert f"presented {presented}, pinned SHA256:" in message
    with pytest.raises(NodeUnusableError) as raised:
        node.wait_until_succeeds("true", timeout=900)
    assert f"presented {presented}, pinned SHA256:" in str(raised.value)
    assert impostor_driver.machines[0].succeed("hostname") == "node-1\n"


@pytest.fixture
def node(driver):
    return driver.machines[2]


@pytest.mark.parametrize("connected_first", [False, True])
def test_wait_for_open_port_on_a_dead_node_fails_early_naming_it(
    node, ns_deployment, connected_first
):
    if connected_first:
        node.succeed("true")
    node.backend.flavour.crash_node(ns_deployment.deployment, ns_deployment.store, "node-3")
    with pytest.raises(NodeUnusableError, match=r"^node-3 is not running"):
        node.wait_for_open_port(18081, timeout=900)


@pytest.mark.parametrize(
    "wait",
    [
        lambda node: node.wait_until_succeeds("false", timeout=900),
        lambda node: node.wait_for_file("/nonexistent", timeout=900),
        lambda node: node.wait_for_unit("nothing.service", timeout=900),
    ],
    ids=["wait_until_succeeds", "wait_for_file", "wait_for_unit"],
)
def test_other_waits_on_a_dead_node_fail_early(node, ns_deployment, wait):
    node.succeed("true")
    node.backend.flavour.crash_node(ns_deployment.deployment, ns_deployment.store, "node-3")
    with pytest.raises(NodeUnusableError, match=r"^node-3 is not running"):
        wait(node)


def test_wait_for_console_text_on_a_dead_node_fails_early(node, ns_deployment):
    node.backend.flavour.crash_node(ns_deployment.deployment, ns_deployment.store, "node-3")
    with pytest.raises(NodeUnusableError, match=r"^node-3 is not running and its console never"):
        node.wait_for_console_text("never printed", timeout=900)


def test_wait_for_console_text_still_reads_what_a_node_printed_before_it_went_off(
    node, ns_deployment
):
    node.wait_for_console_text(r"(?s)\A.*", timeout=900)  # past every earlier line
    node.backend.flavour.shutdown_node(ns_deployment.deployment, ns_deployment.store, "node-3")
    node.wait_for_console_text("reboot: Power down", timeout=900)
