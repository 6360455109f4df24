"""A minimal client for QEMU's machine protocol (QMP) on a unix socket."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from nxc.errors import ExternalCommandError


def qmp_command(
    socket_path: Path, command: str, arguments: dict[str, Any] | None = None, timeout: float = 5.0
) -> Any:
    """Run one QMP command and return its ``return`` value."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(str(socket_path))
            stream = connection.makefile("rwb")
            _read_reply(stream, socket_path, greeting=True)
            for name, args in (("qmp_capabilities", None), (command, arguments)):
                request: dict[str, Any] = {"execute": name}
                if args:
                    request["arguments"] = args
                stream.write(json.dumps(request).encode() + b"\n")
                stream.flush()
                reply = _read_reply(stream, socket_path)
            return reply
    except (OSError, TimeoutError) as error:
        raise ExternalCommandError(
            f"QEMU's control socket {socket_path} did not answer '{command}': {error}"
        ) from error


def _read_reply(stream: Any, socket_path: Path, greeting: bool = False) -> Any:
    while True:
        line = stream.readline()
        if not line:
            raise ExternalCommandError(f"QEMU closed its control socket {socket_path}")
        message = json.loads(line)
        if greeting and "QMP" in message:
            return message
        if "error" in message:
            raise ExternalCommandError(
                f"QEMU refused a command on {socket_path}: {message['error'].get('desc')}"
            )
        if "return" in message:
            return message["return"]
        # anything else is an asynchronous event: skip it
