"""Is a node ready? Its SSH server answers a key exchange with the host key nxc pinned.

Only the handshake is done (no login), so the check is cheap and needs no client key. A
server presenting another key is a hard error: something else answers on that port.
"""

from __future__ import annotations

import asyncio

# asyncssh builds its options in the event loop's default executor, whose module asyncio
# imports on first use: imported here, a Ctrl-C during the first probe cannot land in the
# middle of that import, where Python prints a traceback of its own.
import concurrent.futures.thread  # noqa: F401
from enum import Enum

from nxc.errors import TransportError
from nxc.transport.sshconfig import SshConfig, asyncssh_config


class SshAnswer(Enum):
    """Outcome of one handshake attempt."""

    SILENT = "silent"  # no SSH server answered (yet)
    PINNED = "pinned"  # answered with the pinned key
    OTHER_KEY = "other-key"  # answered with another key


def key_fields(public_line: str) -> str:
    """``type base64`` of an OpenSSH public key line (the comment dropped)."""
    return " ".join(public_line.split()[:2])


async def ssh_answer(
    host: str, port: int, pinned: str, timeout: float = 5.0, ssh_config: SshConfig = None
) -> SshAnswer:
    """Try one SSH key exchange with ``host:port`` and compare the key with ``pinned``.

    ``ssh_config`` (see :mod:`nxc.transport.sshconfig`) may route it through a jump host.
    """
    import asyncssh

    try:
        key = await asyncio.wait_for(
            asyncssh.get_server_host_key(
                host,
                port,
                server_host_key_algs=["ssh-ed25519"],
                config=asyncssh_config(ssh_config),
            ),
            timeout,
        )
    except (OSError, TimeoutError, asyncssh.Error, EOFError):
        return SshAnswer.SILENT
    if key is None:
        return SshAnswer.SILENT
    presented = key.export_public_key("openssh").decode()
    return SshAnswer.PINNED if key_fields(presented) == key_fields(pinned) else SshAnswer.OTHER_KEY


def other_key_error(hostname: str, host: str, port: int) -> TransportError:
    """The error for a server answering with a key that is not the pinned one."""
    return TransportError(
        f"{host}:{port} answered for {hostname} with a host key that is not the one nxc "
        "generated for it: another program listens on that port; stop it and restart "
        "the deployment"
    )
