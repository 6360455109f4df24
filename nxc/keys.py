"""SSH keys of a deployment: the client key, the nodes' host keys and the pinned known_hosts.

nxc generates every key itself. Each deployment gets its own ed25519 client key (private file
mode 0600 in the deployment's state folder) and each node its own ed25519 host key: the private
part goes to that node only, the public part is pinned in the deployment record and written to
the deployment's ``known_hosts``. A redeploy generates new host keys and a new ``known_hosts``,
so there is never a "REMOTE HOST IDENTIFICATION HAS CHANGED" warning to dismiss, and host key
checking is never switched off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc.atomic import write_atomic
from nxc.errors import InputError
from nxc.programs import find_program

if TYPE_CHECKING:
    from nxc.transport.base import SshEndpoint

KEY_TYPE = "ssh-ed25519"


@dataclass(frozen=True)
class KeyPair:
    """An SSH key pair: the private key in OpenSSH format and the public ``authorized_keys`` line."""

    private_openssh: bytes = field(repr=False)
    public_line: str


def generate_keypair(comment: str) -> KeyPair:
    """Generate a fresh ed25519 key pair whose public line ends with ``comment``."""
    import asyncssh

    key = asyncssh.generate_private_key(KEY_TYPE, comment=comment)
    public = key.export_public_key("openssh").decode().strip()
    return KeyPair(private_openssh=key.export_private_key("openssh"), public_line=public)


def write_private_key(path: Path, pair: KeyPair) -> None:
    """Write ``pair`` as ``path`` (mode 0600) and ``path.pub``, each atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, pair.private_openssh, mode=0o600)
    write_atomic(public_key_path(path), (pair.public_line + "\n").encode(), mode=0o644)


def public_key_path(private_key: Path) -> Path:
    """Where the public half of ``private_key`` lives (OpenSSH convention: ``.pub`` appended)."""
    return private_key.with_name(private_key.name + ".pub")


def ensure_client_key(path: Path, comment: str) -> str:
    """Return the public line of the client key at ``path``, generating the key if missing.

    The private key file must stay private: a key readable by others is refused, as OpenSSH
    itself would refuse it.
    """
    return ensure_keypair(path, comment).public_line


def ensure_keypair(path: Path, comment: str) -> KeyPair:
    """The key pair kept at ``path`` (and ``path.pub``), generated and written if missing.

    A private key file readable by other users is refused, as OpenSSH itself would refuse it.
    """
    if not path.exists():
        pair = generate_keypair(comment)
        write_private_key(path, pair)
        return pair
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InputError(
            f"key {path} is readable by other users (mode {mode:o}); "
            f"run 'chmod 600 {path}' or delete it to get a new one"
        )
    import asyncssh

    try:
        private = path.read_bytes()
        key = asyncssh.import_private_key(private)
    except (OSError, ValueError, asyncssh.KeyImportError) as error:
        raise InputError(f"cannot read the key {path} ({error}); delete it and redeploy") from error
    public = key.export_public_key("openssh").decode().strip()
    pub = public_key_path(path)
    if pub.exists():
        public = pub.read_text().strip() or public
    return KeyPair(private_openssh=private, public_line=public)


def root_key_info(pair: KeyPair) -> dict[str, Any]:
    """The deployment info's ``root_ssh_key`` (read by ``nxc.root-sshKeys`` on the nodes,
    docs/nix-library.md): the deployment's root key pair, for nodes to reach each other as root.

    The info then holds a private key: it must reach the nodes only through a private channel
    (a 0600 file, the token-protected info server), never a kernel command line.
    """
    private = pair.private_openssh.decode()
    return {"root_ssh_key": {"private": private, "public": pair.public_line}}


def known_hosts_pattern(host: str, port: int) -> str:
    """The host pattern OpenSSH looks up for ``host:port`` (``[host]:port`` unless port 22)."""
    return host if port == 22 else f"[{host}]:{port}"


def pinned_key_fields(host_key: str, hostname: str) -> str:
    """The ``type base64`` part of a pinned public key line, checked for shape."""
    parts = host_key.split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise InputError(
            f"pinned host key of {hostname} is not an OpenSSH public key line "
            f"({host_key[:40]!r}); redeploy to get new keys"
        )
    return f"{parts[0]} {parts[1]}"


def pinned_host_key(endpoint: SshEndpoint) -> str:
    """The ``type base64`` of the endpoint's pinned host key; :class:`InputError` if it has none.

    nxc never falls back to trusting whatever key a node presents.
    """
    if not endpoint.host_key:
        raise InputError(
            f"node {endpoint.hostname} has no pinned host key in its deployment record; "
            "redeploy it so that nxc generates one"
        )
    return pinned_key_fields(endpoint.host_key, endpoint.hostname)


def known_hosts_lines(endpoints: Iterable[SshEndpoint]) -> list[str]:
    """One known_hosts line per endpoint, for ``[ssh_host]:port`` and its hostname.

    Endpoints without a pinned key are an error (see :func:`pinned_host_key`).
    """
    lines = []
    for endpoint in endpoints:
        key = pinned_host_key(endpoint)
        patterns = [known_hosts_pattern(endpoint.ssh_host, endpoint.ssh_port)]
        if endpoint.hostname not in patterns:
            patterns.append(endpoint.hostname)
        lines.append(f"{','.join(patterns)} {key}")
    return lines


def write_known_hosts(path: Path, endpoints: Iterable[SshEndpoint]) -> None:
    """Write the deployment's ``known_hosts`` (atomically) from the pinned host keys."""
    text = "".join(line + "\n" for line in known_hosts_lines(endpoints))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode=0o644)


def pinned_ssh_options(known_hosts: Path) -> list[str]:
    """OpenSSH ``-o`` options trusting only the host keys pinned in ``known_hosts``.

    The user's own ``known_hosts`` files and keys are left out; host keys are checked strictly
    and never updated.
    """
    return [
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "UpdateHostKeys=no",
        "-o",
        "IdentitiesOnly=yes",
    ]


def ssh_argv(
    endpoint: SshEndpoint,
    client_key: Path,
    known_hosts: Path,
    command: Sequence[str] | str | None = None,
    *,
    user: str = "root",
    batch: bool = False,
    extra_options: Sequence[str] = (),
) -> list[str]:
    """OpenSSH client command line reaching ``endpoint`` with the deployment's key and pins.

    Only the deployment's ``known_hosts`` is consulted and host keys are checked strictly.
    ``batch`` forbids any prompt (for scripts and benchmarks); ``command`` runs instead of a
    login shell.
    """
    ssh = find_program("ssh", "openssh-client", "to open SSH sessions on nodes")
    argv = [ssh, "-i", str(client_key), *pinned_ssh_options(known_hosts), "-o", "LogLevel=ERROR"]
    if batch:
        argv += ["-o", "BatchMode=yes"]
    argv += list(extra_options)
    argv += ["-p", str(endpoint.ssh_port), "--", f"{user}@{endpoint.ssh_host}"]
    if command is not None:
        argv += [command] if isinstance(command, str) else list(command)
    return argv
