"""Boot the busybox test-bed guest under QEMU (TCG) and check the node contract end to end.

Everything is real: the Debian kernel and packages, QEMU, vde_switch, OpenSSH on both sides.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.testbed.launch import ssh_argv, wait_for_ssh
from tests.testbed_tests.conftest import (
    BOOT_TIMEOUT,
    KeyPair,
    Node,
    deployment_info,
    node_entry,
)

pytestmark = pytest.mark.vm


def ssh(node: Node, client: KeyPair, command: str) -> str:
    """Run ``command`` on ``node`` as root with the pinned host key; its stdout."""
    result = subprocess.run(
        ssh_argv(node.port, client.private, node.known_hosts, command),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"ssh {command!r} failed: {result.stderr}"
    return result.stdout


def boot(node: Node, client: KeyPair) -> tuple[float, float]:
    """Wait for the readiness line and SSH; (seconds to the line, seconds to SSH)."""
    hostname = node.guest.config.name
    ready = node.guest.wait_for_console(f"nxc-ready {hostname}", BOOT_TIMEOUT)
    wait_for_ssh(node.port, client.private, node.known_hosts, BOOT_TIMEOUT)
    return ready, time.monotonic() - node.guest.started_at


def test_fw_cfg_boot_ssh_hostname_hosts_shared_dir_and_role(
    launch: Callable[..., Node],
    make_key: Callable[[str], KeyPair],
    vde_switch,
    tmp_path: Path,
) -> None:
    """fw_cfg delivery: readiness line, pinned-key SSH, hostname, /etc/hosts, 9p shares, role."""
    client = make_key("client")
    shared = tmp_path / "shared"
    shared.mkdir()
    store = tmp_path / "store"
    role_bin = store / "abc-role-node" / "bin"
    role_bin.mkdir(parents=True)
    (role_bin / "nxc-role-start").write_text(
        '#!/bin/sh\necho "$NXC_ROLE on $NXC_HOSTNAME" > "/tmp/shared/role-$NXC_HOSTNAME"\n'
    )
    (role_bin / "nxc-role-start").chmod(0o755)
    nodes = [node_entry(1, system="/nix/store/abc-role-node"), node_entry(2)]
    info = deployment_info(client, nodes, shared_dir={"type": "9p", "tag": "nxcshared"})
    node = launch(
        "node1",
        info,
        vde_socket=vde_switch.socket,
        mac=nodes[0]["mac"],
        shares={"nxcshared": shared, "nixstore": store},
    )
    ready, to_ssh = boot(node, client)
    rss_mib = node.guest.rss_kib() / 1024
    print(
        f"\ntestbed busybox: nxc-ready after {ready:.1f} s, SSH after {to_ssh:.1f} s, "
        f"QEMU RSS {rss_mib:.0f} MiB"
    )

    assert ssh(node, client, "hostname").strip() == "node1"
    hosts = ssh(node, client, "cat /etc/hosts").splitlines()
    assert "10.23.0.1 node1" in hosts
    assert "10.23.0.2 node2" in hosts
    addresses = ssh(node, client, "ip -o -4 addr show")
    assert "10.23.0.1/16" in addresses
    assert ssh(node, client, "cat /run/nxc/configured").strip() == "node1"
    assert (shared / "role-node1").read_text() == "node on node1\n"
    ssh(node, client, "echo from-guest > /tmp/shared/from-guest")
    assert (shared / "from-guest").read_text() == "from-guest\n"
    mounts = ssh(node, client, "cat /proc/mounts")
    assert any(line.split()[1] == "/nix/store" and " ro," in line for line in mounts.splitlines())

    copied = tmp_path / "copied"
    scp = [
        "scp", "-P", str(node.port), "-i", str(client.private), "-o", "IdentitiesOnly=yes",
        "-o", f"UserKnownHostsFile={node.known_hosts}", "-o", "StrictHostKeyChecking=yes",
        "-o", "HostKeyAlias=guest", "-o", "BatchMode=yes",
        "root@127.0.0.1:/etc/hostname", str(copied),
    ]  # fmt: skip
    subprocess.run(scp, check=True, capture_output=True, timeout=60)
    assert copied.read_text() == "node1\n"

    other = make_key("other-host")
    node.known_hosts.write_text(f"guest {other.public}\n")
    refused = subprocess.run(
        ssh_argv(node.port, client.private, node.known_hosts, "true"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0, "a host key other than the pinned one was accepted"
    assert "IDENTIFICATION HAS CHANGED" in refused.stderr


def test_two_guests_on_one_switch_ping_each_other_by_hostname(
    launch: Callable[..., Node], make_key: Callable[[str], KeyPair], vde_switch
) -> None:
    """Two guests on one vde_switch reach each other by the names in /etc/hosts."""
    client = make_key("client")
    nodes = [node_entry(1), node_entry(2)]
    info = deployment_info(client, nodes)
    guests = [
        launch(n["hostname"], info, vde_socket=vde_switch.socket, mac=n["mac"]) for n in nodes
    ]
    for node in guests:
        boot(node, client)
    assert "0% packet loss" in ssh(guests[0], client, "ping -c 2 -W 5 node2")
    assert "0% packet loss" in ssh(guests[1], client, "ping -c 2 -W 5 node1")


def test_inline_kernel_parameters(
    launch: Callable[..., Node], make_key: Callable[[str], KeyPair], vde_switch
) -> None:
    """Without fw_cfg, nxc.info= (base64url JSON) configures the node; its host key is never on
    the command line (here a 0600 file of its initrd, /etc/nxc/host_key)."""
    client = make_key("client")
    nodes = [node_entry(1), node_entry(2)]
    node = launch(
        "node2",
        deployment_info(client, nodes),
        delivery="cmdline",
        vde_socket=vde_switch.socket,
        mac=nodes[1]["mac"],
    )
    boot(node, client)
    cmdline = ssh(node, client, "cat /proc/cmdline")
    assert "nxc.info=" in cmdline
    assert "nxc.host_key" not in cmdline
    assert (
        ssh(node, client, "ls /sys/firmware/qemu_fw_cfg/by_name/opt 2>&1 || true").find("nxc") == -1
    )
    assert ssh(node, client, "hostname").strip() == "node2"
    assert "10.23.0.2/16" in ssh(node, client, "ip -o -4 addr show")


@pytest.fixture
def info_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``; stopped at teardown."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], root
    server.shutdown()
    server.server_close()


def test_info_url_and_entry_found_by_address(
    launch: Callable[..., Node], make_key: Callable[[str], KeyPair], info_server
) -> None:
    """nxc.info_url= is fetched at boot; an entry without mac is matched by the DHCP address."""
    port, root = info_server
    client = make_key("client")
    entry = {"hostname": "byaddress", "role": "node", "address": "10.0.2.15"}
    (root / "info.json").write_text(json.dumps(deployment_info(client, [entry])))
    node = launch(
        "byaddress",
        None,
        delivery="url",
        info_url=f"http://10.0.2.2:{port}/info.json",
        user_net_restricted=False,
    )
    boot(node, client)
    assert ssh(node, client, "hostname").strip() == "byaddress"
    assert "10.0.2.15 byaddress" in ssh(node, client, "cat /etc/hosts")


def test_no_entry_for_this_node_is_a_clear_console_error(
    launch: Callable[..., Node], make_key: Callable[[str], KeyPair]
) -> None:
    """A deployment without this node's MAC or address fails with nxc-error, no sshd."""
    client = make_key("client")
    info = deployment_info(client, [node_entry(7)])
    node = launch("stranger", info)
    node.guest.wait_for_console("nxc-error: no entry for this node", BOOT_TIMEOUT)
    line = next(x for x in node.guest.console().splitlines() if "nxc-error: no entry" in x)
    assert "52:54:00:12:34:56" in line
    assert "10.0.2.15" in line
    assert "nxc-ready" not in node.guest.console()


def test_kexec_into_a_new_command_line(
    launch: Callable[..., Node], make_key: Callable[[str], KeyPair], busybox_guest
) -> None:
    """kexec-tools in the guest loads the test-bed kernel and initrd and boots them again."""
    client = make_key("client")
    entry = {"hostname": "node1", "role": "node", "address": "10.0.2.15"}
    node = launch("node1", deployment_info(client, [entry]), memory_mb=384)
    boot(node, client)
    for path in (busybox_guest.kernel, busybox_guest.initrd):
        subprocess.run(
            [
                "scp", "-P", str(node.port), "-i", str(client.private),
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={node.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias=guest",
                "-o", "BatchMode=yes", str(path), f"root@127.0.0.1:/tmp/{path.name}",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )  # fmt: skip
    params = "console=ttyS0 panic=-1 loglevel=4 nxc.kexeced=1"
    ssh(node, client, f"kexec -l /tmp/vmlinuz --initrd=/tmp/initrd --command-line='{params}'")
    ssh(node, client, "setsid kexec -e >/dev/null 2>&1 < /dev/null &")
    deadline = time.monotonic() + BOOT_TIMEOUT
    while node.guest.console().count("nxc-ready node1") < 2:
        assert time.monotonic() < deadline, "no second readiness line after kexec -e"
        time.sleep(0.5)
    wait_for_ssh(node.port, client.private, node.known_hosts, BOOT_TIMEOUT)
    assert "nxc.kexeced=1" in ssh(node, client, "cat /proc/cmdline")
