"""Host keys handed out by the info server: once, only to the node's own address, never on a
command line. Real server processes and real HTTP over loopback (a node's address is a
loopback address the request is sent from); the ``--stdio`` form is run as QEMU runs it."""

from __future__ import annotations

import http.client
import json
import shlex
import subprocess
from pathlib import Path

import pytest

from nxc import infoserver
from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.deployment_info import build_info, deployment_root_key
from nxc.errors import ExternalCommandError
from nxc.flavours.base import StartRun
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.g5k.kexec import b64url
from nxc.flavours.g5k.options import KexecOptions
from nxc.flavours.g5k.ramdisk import KEY_DIR, KexecFlavour
from nxc.keys import generate_keypair
from nxc.manifest import Artefacts, Composition, Manifest, Role
from tests.g5k.conftest import manifest_with


def fetch(port: int, path: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
    """GET ``path`` from the server on 127.0.0.1, sent from address ``source``."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=5, source_address=(source, 0)
    )
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.fixture
def served(tmp_path: Path):
    """A real info server with node1 (127.0.0.2) and node2 (127.0.0.3) keys armed."""
    info_file = tmp_path / "info.json"
    info_file.write_text('{"version": 1}')
    keys = {"node1": b"KEY-ONE\n", "node2": b"KEY-TWO\n"}
    for hostname, key in keys.items():
        infoserver.arm_host_key(tmp_path / "keys", hostname, key)
    clients = tmp_path / "clients.json"
    infoserver.write_clients(clients, {"node1": "127.0.0.2", "node2": "127.0.0.3"})
    server = infoserver.start_info_server(
        info_file, "127.0.0.1", tmp_path / "server.log", tmp_path / "keys", clients
    )
    try:
        yield server, tmp_path / "keys", keys
    finally:
        infoserver.stop_recorded(server.to_record())


def test_a_key_is_served_once_and_only_to_its_node(served) -> None:
    server, key_dir, keys = served
    path = server.key_url("node1").split(str(server.port), 1)[1]
    assert path == f"/{server.token}/host_key/node1"
    assert fetch(server.port, path, "127.0.0.3")[0] == 403, "node2 may not take node1's key"
    assert fetch(server.port, path, "127.0.0.1")[0] == 403, "nor this machine"
    assert fetch(server.port, path, "127.0.0.2") == (200, keys["node1"])
    assert fetch(server.port, path, "127.0.0.2")[0] == 410, "a second fetch is refused"
    assert sorted(p.name for p in key_dir.iterdir()) == ["node2"], "the server forgot it"
    assert fetch(server.port, f"/x{server.token}/host_key/node2", "127.0.0.3")[0] == 404
    assert fetch(server.port, f"/{server.token}/host_key/node3", "127.0.0.3")[0] == 404
    assert fetch(server.port, f"/{server.token}/info.json", "127.0.0.3") == (200, b'{"version": 1}')
    infoserver.arm_host_key(key_dir, "node1", keys["node1"])  # booted again: armed again
    assert fetch(server.port, path, "127.0.0.2") == (200, keys["node1"])


def test_a_reloaded_server_serves_the_new_info_and_a_node_added(served, tmp_path: Path) -> None:
    """nxc start --add: the running server, told by SIGHUP, serves the new info and the new
    node's key on the same port and token; a server gone is one clear error."""
    server, key_dir, _ = served
    grown = b'{"version": 1, "nodes": 3}'
    (tmp_path / "info.json").write_bytes(grown)
    infoserver.write_clients(
        tmp_path / "clients.json",
        {"node1": "127.0.0.2", "node2": "127.0.0.3", "node3": "127.0.0.4"},
    )
    infoserver.arm_host_key(key_dir, "node3", b"KEY-THREE\n")
    infoserver.reload_recorded(server.to_record(), grown)
    assert fetch(server.port, f"/{server.token}/info.json", "127.0.0.4") == (200, grown)
    key = f"/{server.token}/host_key/node3"
    assert fetch(server.port, key, "127.0.0.4") == (200, b"KEY-THREE\n")
    infoserver.stop_recorded(server.to_record())
    with pytest.raises(ExternalCommandError, match="info server is not running any more"):
        infoserver.reload_recorded(server.to_record(), grown)


def test_the_shared_key_url_serves_the_node_whose_address_asks(served, tmp_path: Path) -> None:
    """``host_key/@``: one URL for every node (one Kadeploy environment), each gets its own."""
    server, key_dir, keys = served
    shared = server.key_url(infoserver.BY_ADDRESS).split(str(server.port), 1)[1]
    assert fetch(server.port, shared, "127.0.0.3") == (200, keys["node2"])
    assert fetch(server.port, shared, "127.0.0.3")[0] == 410, "once, as by name"
    assert fetch(server.port, shared, "127.0.0.9")[0] == 404, "no node at that address"
    assert fetch(server.port, shared, "127.0.0.2") == (200, keys["node1"])
    clients = tmp_path / "clients.json"
    infoserver.write_clients(clients, {"node1": "127.0.0.2", "node2": "127.0.0.2"})
    infoserver.arm_host_key(key_dir, "node1", keys["node1"])
    twin = infoserver.start_info_server(
        tmp_path / "info.json", "127.0.0.1", tmp_path / "twin.log", key_dir, clients
    )
    try:
        path = twin.key_url(infoserver.BY_ADDRESS).split(str(twin.port), 1)[1]
        assert fetch(twin.port, path, "127.0.0.2")[0] == 403, "two nodes there: neither"
    finally:
        infoserver.stop_recorded(twin.to_record())


def test_the_root_key_is_served_beside_the_host_key_by_the_same_rules(served) -> None:
    """``root_key/NAME``: the deployment's root pair armed for one node, once, to its address."""
    server, key_dir, _ = served
    infoserver.arm_host_key(infoserver.root_key_dir(key_dir), "node1", b"ROOT-PAIR\n")
    path = f"/{server.token}/root_key/node1"
    assert fetch(server.port, path, "127.0.0.3")[0] == 403, "not to another node"
    assert fetch(server.port, f"/{server.token}/root_key/@", "127.0.0.2") == (200, b"ROOT-PAIR\n")
    assert fetch(server.port, path, "127.0.0.2")[0] == 410, "once"
    assert fetch(server.port, f"/{server.token}/root_key/node2", "127.0.0.3")[0] == 410, "unarmed"
    assert fetch(server.port, f"/{server.token}/other/node1", "127.0.0.2")[0] == 404


def test_the_stdio_form_answers_one_request_as_the_node_of_its_channel(tmp_path: Path) -> None:
    """What QEMU's guestfwd runs per connection: the peer is fixed by the command."""
    info_file = tmp_path / "info.json"
    info_file.write_text('{"version": 1}')
    token_file = tmp_path / "token"
    token_file.write_text("tok\n")
    infoserver.arm_host_key(tmp_path / "keys", "node1", b"KEY-ONE\n")
    clients = tmp_path / "clients.json"
    infoserver.write_clients(clients, {"node1": "10.9.0.1"})

    def ask(peer: str, path: str) -> bytes:
        command = infoserver.stdio_command(info_file, tmp_path / "keys", clients, token_file, peer)
        request = f"GET {path} HTTP/1.1\r\nHost: 10.0.2.100\r\n\r\n".encode()
        argv = shlex.split(command.replace(",,", ","))
        return subprocess.run(argv, input=request, capture_output=True, check=True).stdout

    assert ask("10.9.0.2", "/tok/host_key/node1").startswith(b"HTTP/1.0 403 ")
    assert ask("10.9.0.1", "/tok/info.json").endswith(b'\r\n\r\n{"version": 1}')
    answer = ask("10.9.0.1", "/tok/host_key/node1")
    assert answer.startswith(b"HTTP/1.0 200 ") and answer.endswith(b"\r\n\r\nKEY-ONE\n")
    assert ask("10.9.0.1", "/tok/host_key/node1").startswith(b"HTTP/1.0 410 ")
    assert ask("10.9.0.1", "/other/info.json").startswith(b"HTTP/1.0 404 ")


@pytest.mark.parametrize("delivery", ["inline", "url"])
def test_no_private_key_on_any_command_line(tmp_path: Path, delivery: str) -> None:
    """The kexec command lines name each node's key URL; no key (nor its base64) is in them.
    The node's address (here 127.0.0.1, as the host's) is the one its key is served to."""
    store = DeploymentStore(tmp_path / "deploy")
    nodes = [Node(f"node{i}", "node", address="127.0.0.1", ssh_host="127.0.0.1") for i in (1, 2)]
    deployment = Deployment("composition", "g5k-ramdisk", nodes=nodes)
    secret_dir = store.secret_dir(deployment.name) / "nodes"
    secret_dir.mkdir()
    deployment.resources = {"secret_dir": str(secret_dir)}
    host_keys = {node.hostname: generate_keypair("k").private_openssh for node in nodes}
    info = build_info(deployment, store, manifest_with({"node": ""}))
    flavour = KexecFlavour(KexecOptions(info_address="127.0.0.1", info_delivery=delivery))
    try:
        lines = flavour._command_lines(deployment, store, info, host_keys, "console=ttyS0")
        server = deployment.resources["info_server"]
        for hostname, line in lines.items():
            assert "nxc.host_key=" not in line
            key = host_keys[hostname]
            assert key.decode() not in line and b64url(key)[:40] not in line
            url = f"http://127.0.0.1:{server['port']}/{server['token']}/host_key/{hostname}"
            assert line.endswith(f" nxc.host_key_url={url}")
            assert fetch(server["port"], url.split(str(server["port"]), 1)[1]) == (200, key)
        assert list((secret_dir / KEY_DIR).iterdir()) == []
        assert json.loads((secret_dir / "clients.json").read_text()) == {
            "node1": "127.0.0.1",
            "node2": "127.0.0.1",
        }
    finally:
        flavour.stop(deployment, store, force=True)
    assert not secret_dir.exists()


def test_the_kexec_flavour_arms_the_root_key_per_node_and_keeps_it_out_of_the_info(
    tmp_path: Path,
) -> None:
    """Through the flavour's own allocate → deployment info → prepare steps, with a real info
    server: the info every node user can fetch names the root key only; each node can take
    the pair once, from its own address (both nodes stand at 127.0.0.1 here, so by name)."""
    kernel, initrd = tmp_path / "bzImage", tmp_path / "initrd"
    kernel.write_bytes(b"kernel")
    initrd.write_bytes(b"initrd")
    artefacts = Artefacts(kernel=str(kernel), initrd=str(initrd), cmdline="console=ttyS0")
    roles = (Role("node", "/nix/store/x-node", 2, root_ssh_key=True),)
    manifest = Manifest(
        "g5k-ramdisk", "x86_64-linux", (Composition("c", roles, artefacts=artefacts),)
    )
    machine_file = tmp_path / "hosts"
    machine_file.write_text("127.0.0.1\nlocalhost\n")
    nodes = [Node(f"node{i}", "node", address="", ssh_host="") for i in (1, 2)]
    deployment = Deployment("c", "g5k-ramdisk", nodes=nodes)
    store = DeploymentStore(tmp_path / "deploy")
    flavour = KexecFlavour(
        KexecOptions(
            hosts=HostSource(machine_file=machine_file, check_with_oar=False),
            info_address="127.0.0.1",
            info_delivery="url",
        )
    )
    run = StartRun(deployment, store, manifest)
    try:
        flavour.allocate(run)
        run.host_keys = {n.hostname: generate_keypair(n.hostname).private_openssh for n in nodes}
        run.info = flavour.deployment_info(deployment, store, manifest)
        flavour.prepare(run)
        server = deployment.resources["info_server"]
        served = json.loads(fetch(server["port"], f"/{server['token']}/info.json")[1])
        pair = deployment_root_key(deployment, store, manifest)
        assert pair is not None
        assert served["root_ssh_key"] == {"public": pair.public_line, "fetch": "root_key"}
        path = f"/{server['token']}/root_key/node1"
        assert fetch(server["port"], path) == (200, pair.private_openssh)
        assert fetch(server["port"], path)[0] == 410
        flavour.before_retry(deployment, [deployment.node("node1")])  # booted again: armed again
        assert fetch(server["port"], path) == (200, pair.private_openssh)
    finally:
        flavour.stop(deployment, store, force=True)
