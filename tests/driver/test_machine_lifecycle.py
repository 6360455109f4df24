"""Lifecycle and fault calls through the flavour, and nodes failing under a running script.

The nodes are namespace hosts with a real sshd (see ``nsflavour.py``): crashing one kills its
processes, so the transport's persistent connection really breaks and has to be re-made.
"""

from __future__ import annotations

import time

import pytest

from nxc.errors import MachineError, RequestedAssertionFailed
from tests.driver.nsflavour import console_path, namespace_host


@pytest.fixture
def node(driver):
    return driver.machines[1]


def test_node_killed_behind_the_scripts_back_fails_the_next_command(node, ns_deployment):
    node.succeed("true")
    node.backend.flavour.crash_node(ns_deployment.deployment, ns_deployment.store, "node-2")
    started = time.monotonic()
    with pytest.raises(MachineError, match="node-2"):
        node.succeed("echo after")
    assert time.monotonic() - started < 30
    assert not node.is_up()
    # the next command does not hang either: the node is known to be down
    with pytest.raises(MachineError, match="node-2 is not running"):
        node.succeed("echo again")


def test_crash_then_a_command_boots_the_node_again(node, ns_deployment, log_stream):
    node.succeed("true")
    node.crash()
    assert not node.booted
    assert not namespace_host(ns_deployment.deployment.node("node-2")).pids()
    assert node.succeed("hostname") == "node-2\n"  # as in NixOS: commands start a stopped node
    assert node.is_up()
    log = log_stream.getvalue()
    assert "node-2: forced crash" in log and "node-2: starting node" in log


def test_shutdown_and_start(node, ns_deployment):
    node.shutdown()
    assert not node.booted
    assert node.backend.is_running() is False
    node.shutdown()  # already off: nothing to do
    node.start()
    assert node.booted and not node.connected
    node.succeed("true")
    assert node.is_up()


def test_reboot_waits_for_the_node_on_the_next_command(node, ns_deployment):
    before = node.succeed("cat /proc/self/stat | cut -d' ' -f22")
    sshd = namespace_host(ns_deployment.deployment.node("node-2")).pids()
    node.reboot()
    assert not node.connected
    assert node.succeed("hostname") == "node-2\n"
    assert namespace_host(ns_deployment.deployment.node("node-2")).pids() != sshd
    assert node.succeed("cat /proc/self/stat | cut -d' ' -f22") != before


def test_wait_until_succeeds_rides_over_a_node_that_is_rebooting(node, ns_deployment, driver):
    host = namespace_host(ns_deployment.deployment.node("node-2"))
    node.succeed("true")
    host.kill()
    flavour = node.backend.flavour

    def restart_later() -> None:
        time.sleep(2)
        flavour.start_node(ns_deployment.deployment, ns_deployment.store, "node-2")

    import threading

    thread = threading.Thread(target=restart_later)
    thread.start()
    try:
        assert node.wait_until_succeeds("hostname", timeout=30) == "node-2\n"
    finally:
        thread.join()


def test_wait_for_shutdown(node, ns_deployment):
    node.execute("sleep 1; kill -TERM $PPID", check_output=False)
    namespace_host(ns_deployment.deployment.node("node-2")).kill()
    node.wait_for_shutdown(timeout=10)
    assert not node.booted


def test_block_cuts_the_node_off_the_others_but_not_off_the_driver(driver, ns_deployment):
    first, second = driver.machines[0], driver.machines[1]
    second_address = ns_deployment.deployment.node("node-2").address
    probe = f"timeout 2 bash -c 'exec 3<>/dev/tcp/{second_address}/22'"
    first.succeed(probe)
    second.block()
    try:
        first.fail(probe)
        assert second.succeed("hostname") == "node-2\n"
    finally:
        second.unblock()
    first.succeed(probe)


def test_wait_for_console_text(node, ns_deployment):
    node.crash()
    node.start()
    node.wait_for_console_text("nxc-ready node-2", timeout=10)
    # the same line does not match twice
    with pytest.raises(RequestedAssertionFailed):
        node.wait_for_console_text("nxc-ready node-2", timeout=1)
    assert "nxc-ready node-2" in node.get_console_log()


def test_unsupported_lifecycle_call_names_the_flavour(driver):
    node = driver.machines[0]

    def refuse(*_):
        from nxc.errors import UnsupportedOperationError

        raise UnsupportedOperationError("flavour 'netnstest' can't crash a node")

    node.backend.flavour.crash_node = refuse
    with pytest.raises(Exception, match="can't crash a node"):
        node.crash()
    assert node.booted


def test_start_all_and_join_all(driver, ns_deployment):
    for machine in driver.machines:
        machine.crash()
    driver.start_all()
    assert all(machine.booted for machine in driver.machines)
    for machine in driver.machines:
        machine.succeed("true")
    for machine in driver.machines:
        machine.shutdown()
    driver.join_all()


def test_reboot_without_a_reboot_hook_shuts_down_and_starts(node, ns_deployment, monkeypatch):
    monkeypatch.setattr(node.backend.flavour, "reboot_node", None)
    sshd = namespace_host(ns_deployment.deployment.node("node-2")).pids()
    node.reboot()
    assert node.succeed("hostname") == "node-2\n"
    assert namespace_host(ns_deployment.deployment.node("node-2")).pids() != sshd
    console = node.get_console_log()
    assert console.rindex("reboot: Power down") < console.rindex("nxc-ready node-2")


def test_wait_for_console_text_follows_a_new_log_after_a_restart(node, ns_deployment):
    console = console_path(ns_deployment.deployment.node("node-2"))
    console.write_text("old boot\n" * 50)
    node.crash()
    node.start()
    # as QEMU does when relaunched: a fresh log, the line early, the log longer than the old one
    console.write_text("nxc-ready node-2 (second boot)\n" + "later noise\n" * 100)
    node.wait_for_console_text(r"nxc-ready node-2 \(second boot\)", timeout=10)
