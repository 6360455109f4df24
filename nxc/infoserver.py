"""The HTTP server handing the deployment info to nodes whose kernel command line can't hold it.

Nodes fetch ``http://ADDRESS:PORT/TOKEN/info.json`` (``nxc.info_url=``). The server runs as a
detached process (``python -m nxc.infoserver``) so that it outlives ``nxc start``; it binds the
address facing the nodes on a random port, answers only the path holding the random token, and
is stopped with the deployment. Its pid, port, token and marker are recorded (``to_record``).

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
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nxc.errors import ExternalCommandError, NodeTimeoutError

START_TIMEOUT = 10.0
INFO_NAME = "info.json"
MARKER_PREFIX = "nxc-info-"


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
        return f"http://{self.address}:{self.port}/{self.token}/{INFO_NAME}"

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for ``Deployment.resources``."""
        return {
            "address": self.address,
            "port": self.port,
            "token": self.token,
            "pid": self.pid,
            "marker": self.marker,
        }


def start_info_server(info_file: Path, address: str, log: Path) -> InfoServer:
    """Serve ``info_file`` on ``address`` (random port and token) from a detached process.

    Returns once the server listens; :class:`NodeTimeoutError` naming the log otherwise.
    """
    token = secrets.token_urlsafe(24)
    marker = f"{MARKER_PREFIX}{secrets.token_hex(8)}"
    port_file = info_file.with_name(f"infoserver-{marker}.port")
    argv = [sys.executable, "-m", "nxc.infoserver", str(info_file), f"--bind={address}"]
    argv += [f"--marker={marker}", f"--port-file={port_file}"]
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
    from nxc.flavours import processes

    marker = record.get("marker") or record.get("token")
    if record.get("pid") and marker:
        processes.terminate([int(record["pid"])], str(marker), grace=grace)


class _Handler(http.server.BaseHTTPRequestHandler):
    body: bytes = b""
    path_expected: str = ""

    def do_GET(self) -> None:
        if self.path != self.path_expected:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        # The token is a secret: log the client and status, not the path.
        sys.stderr.write(f"{self.client_address[0]} {args[1] if len(args) > 1 else ''}\n")


def serve(info_file: Path, address: str, token: str, port_file: Path) -> None:
    """Serve ``info_file`` at ``/TOKEN/info.json`` until killed; write the port to ``port_file``."""
    handler = type(
        "InfoHandler",
        (_Handler,),
        {"body": info_file.read_bytes(), "path_expected": f"/{token}/{INFO_NAME}"},
    )
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    temporary = port_file.with_name(port_file.name + ".tmp")
    temporary.write_text(str(server.server_address[1]))
    os.replace(temporary, port_file)
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry of the detached server process; the token is read from stdin."""
    parser = argparse.ArgumentParser(prog="python -m nxc.infoserver")
    parser.add_argument("info_file", type=Path)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--marker", required=True, help="public id in the command line")
    parser.add_argument("--port-file", type=Path, required=True)
    options = parser.parse_args(argv)
    token = sys.stdin.readline().strip()
    if not token:
        parser.error("no token on the standard input")
    serve(options.info_file, options.bind, token, options.port_file)


if __name__ == "__main__":
    main()
