"""The HTTP server handing nodes the deployment info and, once each, their private host keys.

Nodes fetch ``http://ADDRESS:PORT/TOKEN/info.json`` (``nxc.info_url=``, when the info does not
travel inline) and ``http://ADDRESS:PORT/TOKEN/host_key/HOSTNAME`` (``nxc.host_key_url=``).
The server runs as a detached process (``python -m nxc.infoserver``) so that it outlives
``nxc start``; it binds the address facing the nodes on a random port, answers only paths
under the random token, and is stopped with the deployment. Its pid, port, token and marker
are recorded (``to_record``).

A host key is served only to the address its node has (``clients``: hostname → address;
403 to any other) and only once: it is an *armed* file ``KEY_DIR/HOSTNAME`` (written by
:func:`arm_host_key`, mode 0600, in the deployment's private folder) that the first fetch
claims by renaming it and deletes; a second fetch gets 410. A flavour that boots a node again
(retries, restarts) arms its key again. ``.../host_key/@`` (:data:`BY_ADDRESS`) serves the key of
the node whose address asks, so that every node can share one command line (``g5k-image``:
one Kadeploy environment for all hosts); an address two nodes share gets 403 there.
``.../root_key/HOSTNAME`` (or ``@``) serves, by the same rules, the deployment's root key pair
armed for that node in :func:`root_key_dir` (``nxc.root-sshKeys`` on the flavours whose info
goes by URL). The token is on the nodes' kernel command lines (every
user of a node can read it): it grants this deployment's info, never another node's key.

For local QEMU nodes (``vm-ramdisk``) there is no listening server: QEMU's user network runs
``python -m nxc.infoserver --stdio --peer ADDRESS ...`` for each connection a node opens to
its forwarded address (``guestfwd=...-cmd:``), which answers one request on its standard
input and output, as the node of that QEMU (:func:`stdio_command`).

The token is a secret: every local user can read a process's command line
(``/proc/PID/cmdline``), so the server gets it on its standard input, never in its arguments.
Its command line carries instead a random, public **marker** (``--marker=nxc-info-<hex>``),
which lets ``nxc stop`` check that the pid is still this server before signalling it, even
after a crash (:func:`stop_recorded`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nxc.atomic import write_atomic
from nxc.errors import ExternalCommandError, InputError, NodeTimeoutError

START_TIMEOUT = 10.0
RELOAD_TIMEOUT = 10.0
"""How long a reloaded server may take to serve the new info."""
INFO_NAME = "info.json"
KEY_PATH = "host_key"
ROOT_KEY_PATH = "root_key"
"""Beside ``host_key``: the deployment's root key pair (``nxc.root-sshKeys``), armed per node
in :func:`root_key_dir` and served by the same rules."""
BY_ADDRESS = "@"
"""In place of a hostname in a key URL: the node whose address fetches it (no hostname has ``@``)."""
MARKER_PREFIX = "nxc-info-"
LISTEN_BACKLOG = 4096
"""Connections the server's socket queues: every node of a large deployment may ask at once."""


@dataclass(frozen=True)
class InfoServer:
    """A running info server: where nodes fetch the info, and what stop needs."""

    address: str
    port: int
    token: str
    pid: int
    marker: str

    @property
    def url(self) -> str:
        """The URL given to nodes as ``nxc.info_url=``."""
        return info_url(f"{self.address}:{self.port}", self.token)

    def key_url(self, hostname: str) -> str:
        """The URL given to node ``hostname`` as ``nxc.host_key_url=``."""
        return host_key_url(f"{self.address}:{self.port}", self.token, hostname)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for ``Deployment.resources``."""
        return {
            "address": self.address,
            "port": self.port,
            "token": self.token,
            "pid": self.pid,
            "marker": self.marker,
        }


def info_url(authority: str, token: str) -> str:
    """``http://AUTHORITY/TOKEN/info.json``."""
    return f"http://{authority}/{token}/{INFO_NAME}"


def host_key_url(authority: str, token: str, hostname: str) -> str:
    """``http://AUTHORITY/TOKEN/host_key/HOSTNAME``."""
    return f"http://{authority}/{token}/{KEY_PATH}/{hostname}"


def new_token() -> str:
    """A fresh random token (the secret part of every URL the nodes fetch)."""
    return secrets.token_urlsafe(24)


def root_key_dir(key_dir: Path) -> Path:
    """Where the root keys armed for the nodes are, beside the host keys' ``key_dir``."""
    return key_dir.with_name(f"{key_dir.name}.root")


def arm_host_key(key_dir: Path, hostname: str, key: bytes) -> None:
    """Make ``hostname``'s private host key fetchable once more (mode 0600 under ``key_dir``)."""
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(key_dir / hostname, key, mode=0o600)


def write_clients(path: Path, clients: dict[str, str]) -> None:
    """Record which address each node's key is served to (hostname → address)."""
    write_atomic(path, json.dumps(clients).encode(), mode=0o600)


def stdio_command(
    info_file: Path, key_dir: Path, clients: Path, token_file: Path, peer: str
) -> str:
    """The command QEMU's ``guestfwd=...-cmd:`` runs for each connection of the node at
    address ``peer`` (commas doubled for QEMU's option syntax)."""
    words = [sys.executable, "-m", "nxc.infoserver", "--stdio", f"--peer={peer}"]
    words += [f"--key-dir={key_dir}", f"--clients={clients}", f"--token-file={token_file}"]
    words.append(str(info_file))
    bad = [word for word in words if any(char.isspace() for char in word)]
    if bad:
        raise InputError(
            f"the path {bad[0]!r} holds a space, which QEMU's guestfwd command cannot carry; "
            "use a Python and a project folder whose paths have none"
        )
    return " ".join(words).replace(",", ",,")


def start_info_server(
    info_file: Path,
    address: str,
    log: Path,
    key_dir: Path | None = None,
    clients: Path | None = None,
) -> InfoServer:
    """Serve ``info_file`` on ``address`` (random port and token) from a detached process,
    and the host keys armed in ``key_dir`` to the addresses ``clients`` names
    (:func:`write_clients`).

    Returns once the server listens; :class:`NodeTimeoutError` naming the log otherwise.
    """
    token = new_token()
    marker = f"{MARKER_PREFIX}{secrets.token_hex(8)}"
    port_file = info_file.with_name(f"infoserver-{marker}.port")
    argv = [sys.executable, "-m", "nxc.infoserver", str(info_file), f"--bind={address}"]
    argv += [f"--marker={marker}", f"--port-file={port_file}"]
    if key_dir is not None and clients is not None:
        argv += [f"--key-dir={key_dir}", f"--clients={clients}"]
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    assert process.stdin is not None
    with contextlib.suppress(BrokenPipeError), process.stdin:
        process.stdin.write(f"{token}\n".encode())
    deadline = time.monotonic() + START_TIMEOUT
    while not port_file.is_file() or not port_file.read_text().strip().isdigit():
        if process.poll() is not None:
            raise ExternalCommandError(
                f"the deployment info server could not listen on {address}; see {log}", log
            )
        if time.monotonic() >= deadline:
            process.kill()
            raise NodeTimeoutError(
                f"the deployment info server did not listen within {START_TIMEOUT:.0f} s; "
                f"see {log}",
                ["info server"],
            )
        time.sleep(0.05)
    port = int(port_file.read_text())
    port_file.unlink()
    return InfoServer(address, port, token, process.pid, marker)


def stop_recorded(record: dict[str, Any], grace: float = 2.0) -> None:
    """Stop the server described by ``record`` (``to_record``) if its pid is still it.

    Records written before the marker existed name the server by its token, which was then in
    its command line.
    """
    from nxc.flavours.common import processes

    marker = record.get("marker") or record.get("token")
    if record.get("pid") and marker:
        processes.terminate([int(record["pid"])], str(marker), grace=grace)


def reload_recorded(
    record: dict[str, Any], document: bytes, timeout: float = RELOAD_TIMEOUT
) -> None:
    """Make the running server of ``record`` serve its files again (SIGHUP) and return once it
    hands out ``document`` as the info; :class:`ExternalCommandError` if it is not running
    (its pid no longer carries its marker) or does not within ``timeout`` seconds."""
    from nxc.flavours.common import processes

    pid, marker = record.get("pid"), record.get("marker")
    if not pid or not marker or not processes.is_ours(int(pid), str(marker)):
        raise ExternalCommandError(
            "the deployment's info server is not running any more, so new nodes cannot fetch "
            "their info; stop the deployment and start it again"
        )
    os.kill(int(pid), signal.SIGHUP)
    url = info_url(f"{record['address']}:{record['port']}", str(record["token"]))
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), direct.open(url, timeout=2) as answer:
            if answer.read() == document:
                return
        if time.monotonic() >= deadline:
            raise ExternalCommandError(
                f"the deployment's info server (pid {pid}) still served the old info "
                f"{timeout:.0f} s after it was told to reload; see its log"
            )
        time.sleep(0.1)


@dataclass(frozen=True)
class Served:
    """What one server answers: the info, the armed keys, who may fetch each, under the token."""

    info: bytes
    token: str
    key_dir: Path | None = None
    clients: dict[str, str] | None = None

    @classmethod
    def load(
        cls, info_file: Path, token: str, key_dir: Path | None, clients: Path | None
    ) -> Served:
        """Read the info and the clients file; the keys are read when fetched."""
        known = json.loads(clients.read_text()) if clients is not None else None
        return cls(info_file.read_bytes(), token, key_dir, known)

    def answer(self, path: str, peer: str) -> tuple[int, bytes]:
        """Status and body for a GET of ``path`` by the node at address ``peer``."""
        if path == f"/{self.token}/{INFO_NAME}":
            return 200, self.info
        folders = {KEY_PATH: self.key_dir}
        if self.key_dir is not None:
            folders[ROOT_KEY_PATH] = root_key_dir(self.key_dir)
        kind, _, hostname = path.removeprefix(f"/{self.token}/").partition("/")
        if not path.startswith(f"/{self.token}/") or kind not in folders or self.clients is None:
            return 404, b""
        if hostname == BY_ADDRESS:
            askers = [name for name, address in self.clients.items() if address == peer]
            if len(askers) != 1:
                return (404 if not askers else 403), b""  # no node there, or not one alone
            hostname = askers[0]
        if hostname not in self.clients:
            return 404, b""
        if self.clients[hostname] != peer:
            return 403, b""  # another node, or anyone else who read the token
        folder = folders[kind]
        assert folder is not None
        return self._take_key(folder, hostname)

    def _take_key(self, folder: Path, hostname: str) -> tuple[int, bytes]:
        """Claim the armed key by renaming it (one fetch wins), read it, delete it."""
        claimed = folder / f".{hostname}.taken-{secrets.token_hex(8)}"
        try:
            os.rename(folder / hostname, claimed)
        except FileNotFoundError:
            return 410, b""  # served already
        try:
            return 200, claimed.read_bytes()
        finally:
            claimed.unlink(missing_ok=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    served: Served

    def do_GET(self) -> None:
        status, body = self.served.answer(self.path, self.client_address[0])
        if status != 200:
            self.send_error(status)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # The token is a secret: log the client and status, not the path.
        sys.stderr.write(f"{self.client_address[0]} {args[1] if len(args) > 1 else ''}\n")


class _Server(http.server.ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a thousand nodes booting at once then wait out
    # SYN retransmissions (1 s, 3 s, 7 s...); the kernel caps this at net.core.somaxconn.
    request_queue_size = LISTEN_BACKLOG


def serve(served: Served, address: str, port_file: Path, load: Callable[[], Served]) -> None:
    """Serve until killed; write the port to ``port_file``. On SIGHUP, serve what ``load``
    reads then (nodes joined the deployment: the new info and clients)."""
    handler: type[_Handler] = type("InfoHandler", (_Handler,), {"served": served})

    def reload(signum: int, frame: object) -> None:
        handler.served = load()

    signal.signal(signal.SIGHUP, reload)
    server = _Server((address, 0), handler)
    temporary = port_file.with_name(port_file.name + ".tmp")
    temporary.write_text(str(server.server_address[1]))
    os.replace(temporary, port_file)
    server.serve_forever()


REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 410: "Gone"}


def serve_stdio(served: Served, peer: str, source: BinaryIO, sink: BinaryIO) -> None:
    """Answer one HTTP GET read from ``source`` on ``sink``, as asked by ``peer``."""
    request = source.readline(8192).decode("latin-1").split()
    while source.readline(8192).strip():
        pass  # the headers: nothing in them matters
    if len(request) == 3 and request[0] == "GET":
        status, body = served.answer(request[1], peer)
    else:
        status, body = 404, b""
    head = f"HTTP/1.0 {status} {REASONS[status]}\r\nContent-Length: {len(body)}\r\n"
    sink.write(f"{head}Content-Type: application/octet-stream\r\n\r\n".encode() + body)
    sink.flush()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: the detached server (token on stdin), or one ``--stdio`` answer."""
    parser = argparse.ArgumentParser(prog="python -m nxc.infoserver")
    parser.add_argument("info_file", type=Path)
    parser.add_argument("--bind")
    parser.add_argument("--marker", help="public id in the command line")
    parser.add_argument("--port-file", type=Path)
    parser.add_argument("--key-dir", type=Path)
    parser.add_argument("--clients", type=Path, help="JSON: hostname -> address")
    parser.add_argument("--stdio", action="store_true", help="answer one request on stdin")
    parser.add_argument("--peer", help="--stdio: the address of the node asking")
    parser.add_argument("--token-file", type=Path, help="--stdio: where the token is")
    options = parser.parse_args(argv)
    if options.stdio:
        if options.peer is None or options.token_file is None:
            parser.error("--stdio needs --peer and --token-file")
        token = options.token_file.read_text().strip()
        served = Served.load(options.info_file, token, options.key_dir, options.clients)
        serve_stdio(served, options.peer, sys.stdin.buffer, sys.stdout.buffer)
        return
    if options.bind is None or options.port_file is None:
        parser.error("--bind and --port-file are needed (or --stdio)")
    token = sys.stdin.readline().strip()
    if not token:
        parser.error("no token on the standard input")

    def load() -> Served:
        return Served.load(options.info_file, token, options.key_dir, options.clients)

    serve(load(), options.bind, options.port_file, load)


if __name__ == "__main__":
    main()
