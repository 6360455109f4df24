"""The activation engine (nxc/activation.py) against namespace hosts running real OpenSSH
servers, reached through nxc's real SSH transport.

A server/client composition: ``client`` waits for ``server`` (``nxc.after``), the server is
ready once a flag file exists (a readiness command), a client once it has been activated. On
NixOS, ``nxc-activate`` is nxc's activation module's ``systemctl start nxc-activate.target``;
here it is a real script the test puts on each host's PATH (``/usr/local/bin``, a folder of the
host's own) that records the time it ran in ``/usr/local/activated``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.activation import activate
from nxc.deployment import Deployment, Node, NodeState
from nxc.errors import NodeTimeoutError, TransportError
from nxc.manifest import Composition, Role, RoleCheck
from nxc.transport.ssh import SshTransport
from tests.netns import NamespaceHost, NamespaceHosts
from tests.transport.conftest import ClientKey, Endpoint, _skip_reason

ROLES = ("server", "client", "client")
ACTIVATE_SCRIPT = "#!/bin/sh\ndate +%s.%N >> /usr/local/activated\n"


@pytest.fixture(scope="module")
def hosts(
    tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey
) -> Iterator[list[NamespaceHost]]:
    """Three hosts (a server, two clients), each with its own ``/usr/local`` holding the
    ``nxc-activate`` stand-in."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    network = NamespaceHosts(
        len(ROLES), tmp_path_factory.mktemp("activation"), client_key.public_line
    )
    try:
        network.up()
        for host, role in zip(network.hosts, ROLES, strict=True):
            host.role = role
            script = local_of(host) / "bin" / "nxc-activate"
            script.parent.mkdir(parents=True)
            script.write_text(ACTIVATE_SCRIPT)
            script.chmod(0o755)
            host.kill()
            host.start_sshd(binds={local_of(host): "/usr/local"})
        for host in network.hosts:
            host.wait_listening()
        yield network.hosts
    finally:
        network.down()


@pytest.fixture
def flag(hosts: list[NamespaceHost], tmp_path: Path) -> Iterator[Path]:
    """The server's readiness flag (absent), the hosts' activation records cleared."""
    for host in hosts:
        (local_of(host) / "activated").unlink(missing_ok=True)
    yield tmp_path / "server-ready"


def local_of(host: NamespaceHost) -> Path:
    return host.folder / "local"


def activations(host: NamespaceHost) -> list[float]:
    """When ``nxc-activate`` ran on ``host`` (epoch seconds), in order."""
    record = local_of(host) / "activated"
    return [float(line) for line in record.read_text().split()] if record.exists() else []


def deployment_of(hosts: list[NamespaceHost]) -> Deployment:
    nodes = [
        Node(
            hostname=host.hostname,
            role=host.role,
            address=host.address,
            ssh_host=host.ssh_host,
            host_key=host.host_key,
            state=NodeState.ready,
        )
        for host in hosts
    ]
    return Deployment(composition="c", flavour="vm", nodes=nodes)


def server_client(flag: Path) -> Composition:
    server_check = RoleCheck(command=f"echo waiting for the flag; test -e {flag}")
    client_check = RoleCheck(command="test -s /usr/local/activated")
    return Composition(
        "c",
        (
            Role("server", "/s/server", readiness=server_check),
            Role("client", "/s/client", default_count=2, after=("server",), readiness=client_check),
        ),
    )


def test_clients_are_activated_only_once_the_server_is_ready(
    hosts: list[NamespaceHost], client_key: ClientKey, flag: Path
):
    server, *clients = hosts
    raised: list[float] = []

    def raise_flag() -> None:
        raised.append(time.time())
        flag.touch()

    timer = threading.Timer(1.5, raise_flag)
    events: list[tuple[str, str]] = []
    timer.start()
    try:
        with SshTransport(hosts, client_key.path) as transport:
            result = activate(
                deployment_of(hosts),
                server_client(flag),
                transport,
                timeout=20,
                poll=0.2,
                progress=lambda role, event: events.append((role, event)),
            )
    finally:
        timer.cancel()
    assert raised, "the flag was never raised"
    assert activations(server) == []  # a role waiting for none was activated at boot
    for client in clients:
        (stamp,) = activations(client)
        assert stamp >= raised[0]
    assert events == [("server", "ready"), ("client", "activating"), ("client", "ready")]
    server_done, client_done = result.roles["server"], result.roles["client"]
    assert server_done.activated_at is None
    assert 1.5 <= server_done.ready_at <= client_done.activated_at <= client_done.ready_at
    assert result.commands_run


def test_a_never_ready_server_is_one_clear_error_within_the_timeout(
    hosts: list[NamespaceHost], client_key: ClientKey, flag: Path
):
    started = time.monotonic()
    with (
        SshTransport(hosts, client_key.path) as transport,
        pytest.raises(NodeTimeoutError) as caught,
    ):
        activate(deployment_of(hosts), server_client(flag), transport, timeout=2, poll=0.2)
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 6
    server = hosts[0].hostname
    assert str(caught.value).splitlines() == [
        f"c::vm: role(s) server not ready within 2 s (1 node(s): {server})",
        f"--- {server} (server, command 'echo waiting for the flag; test -e {flag}'): "
        "exit status 1, last output: waiting for the flag",
        "not activated, waiting behind them: client",
        "check those nodes' readiness (nxc.readiness) by hand on them (nxc connect), or give "
        "them more time with timeout",
    ]
    assert caught.value.missing == [server]
    assert caught.value.render({"timeout": "-T/--timeout"}).endswith("with -T/--timeout")
    assert all(activations(host) == [] for host in hosts)


def test_a_composition_without_dependencies_or_checks_runs_nothing(
    hosts: list[NamespaceHost], client_key: ClientKey
):
    """Every node is unreachable (a closed port): any command would fail."""
    unreachable = [Endpoint(host.hostname, host.address, 1, host.host_key) for host in hosts]
    plain = Composition("c", (Role("server", "/s/server"), Role("client", "/s/client")))
    with SshTransport(unreachable, client_key.path, connect_timeout=1.0) as transport:
        result = activate(deployment_of(hosts), plain, transport, timeout=5)
    assert not result.commands_run
    assert [(r.role, r.activated_at) for r in result.roles.values()] == [
        ("server", None),
        ("client", None),
    ]
    assert all(r.ready_at < 0.1 for r in result.roles.values())


def test_a_node_without_nxc_activate_is_one_clear_error(
    hosts: list[NamespaceHost], client_key: ClientKey, flag: Path
):
    """The last client's system lacks the command (a role built without nxc's module)."""
    script = local_of(hosts[-1]) / "bin" / "nxc-activate"
    hidden = script.with_name("hidden")
    script.rename(hidden)
    flag.touch()
    try:
        with (
            SshTransport(hosts, client_key.path) as transport,
            pytest.raises(TransportError) as caught,
        ):
            activate(deployment_of(hosts), server_client(flag), transport, timeout=10, poll=0.2)
    finally:
        hidden.rename(script)
    message = str(caught.value)
    assert message.startswith(
        f"c::vm: nxc-activate failed on 1 node(s): {hosts[-1].hostname} (exit status 127"
    )
    assert "not found" in message
    assert "imports nxc's activation module" in message
    assert "\n" not in message
    assert len(activations(hosts[1])) == 1
