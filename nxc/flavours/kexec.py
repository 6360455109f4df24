"""Booting physical hosts into a composition with kexec: command lines, pushes, remote shell.

The kexec flavours reach each reserved host as root over OpenSSH (on Grid'5000: a ``deploy``
job, the user's key authorized for root), copy the kernel and initrd there once per content
(files named by their SHA-256 under :data:`REMOTE_DIR`), then load them with ``kexec -l`` and the
node's own kernel parameters and start ``kexec -e`` detached with ``setsid`` (``nohup`` would
die with the SSH session).

Kernel parameters per node (docs/node-contract.md): the manifest's command line, then the
deployment info inline (``nxc.info=``, base64url) while the whole line fits in
:data:`MAX_CMDLINE` bytes, else ``nxc.info_url=``, then ``nxc.host_key=`` with the node's own
private host key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nxc.errors import ExternalCommandError, MissingToolError

MAX_CMDLINE = 2048
"""x86 kernel command line size, terminating NUL included."""

REMOTE_DIR = "/tmp/nxc-kexec"
PUSH_TIMEOUT = 600.0
COMMAND_TIMEOUT = 60.0


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (the contract's kernel-parameter encoding)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def node_command_line(
    base: str, host_key: bytes, info: bytes | None = None, info_url: str | None = None
) -> str:
    """The kernel command line of one node: ``base``, the info (inline or URL), its host key."""
    if (info is None) == (info_url is None):
        raise ValueError("give exactly one of info and info_url")
    words = [base.strip()] if base.strip() else []
    words.append(f"nxc.info={b64url(info)}" if info is not None else f"nxc.info_url={info_url}")
    words.append(f"nxc.host_key={b64url(host_key)}")
    return " ".join(words)


def fits(command_line: str) -> bool:
    """Whether ``command_line`` fits the kernel's buffer (with its terminating NUL)."""
    return len(command_line.encode()) < MAX_CMDLINE


def inline_fits(base: str, info: bytes, host_keys: Sequence[bytes]) -> bool:
    """Whether every node's command line fits with the info inline."""
    return all(fits(node_command_line(base, key, info=info)) for key in host_keys)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remote_path(digest: str) -> str:
    """Where an artefact with content ``digest`` lives on a host."""
    return f"{REMOTE_DIR}/{digest}"


def kexec_script(kernel: str, initrd: str, command_line: str) -> str:
    """Shell code loading the new kernel, then starting ``kexec -e`` detached.

    It holds the node's private host key: send it on the standard input of ``sh -s``, never
    in an argument list (visible to every user of the frontend).
    """
    load = shlex.join(
        ["kexec", "-l", kernel, f"--initrd={initrd}", f"--command-line={command_line}"]
    )
    return f"{load} && {{ setsid kexec -e >/dev/null 2>&1 </dev/null & }}"


@dataclass(frozen=True)
class HostShell:
    """OpenSSH to physical hosts as ``user`` (root in a deploy job) with extra ``options``.

    Host keys of the physical hosts are checked as the user's SSH set-up says (on Grid'5000
    the site's known_hosts); ``options`` adds what that needs (``-i KEY``,
    ``-o UserKnownHostsFile=...``).
    """

    user: str = "root"
    options: tuple[str, ...] = ()
    ssh: str = ""

    @classmethod
    def found(cls, user: str = "root", options: Sequence[str] = ()) -> HostShell:
        """A shell with ``ssh`` looked up on PATH (:class:`MissingToolError` if absent)."""
        ssh = shutil.which("ssh")
        if ssh is None:
            raise MissingToolError("ssh", "openssh-client", "to reach the reserved hosts")
        return cls(user, tuple(options), ssh)

    def argv(self, host: str, script: str) -> list[str]:
        """The command line running ``script`` on ``host``."""
        return [
            self.ssh or "ssh",
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10",
            "-o", "LogLevel=ERROR",
            *self.options,
            f"{self.user}@{host}",
            script,
        ]  # fmt: skip

    def call(
        self,
        host: str,
        script: str,
        stdin: Path | bytes | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> tuple[int, str, str]:
        """Run ``script`` on ``host``, ``stdin`` from a file or bytes: status, stdout, stderr."""
        try:
            with contextlib.ExitStack() as stack:
                source = (
                    stack.enter_context(stdin.open("rb"))
                    if isinstance(stdin, Path)
                    else subprocess.DEVNULL
                )
                result = subprocess.run(
                    self.argv(host, script),
                    input=stdin if isinstance(stdin, bytes) else None,
                    stdin=None if isinstance(stdin, bytes) else source,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise ExternalCommandError(
                f"{host} did not finish '{script[:60]}' within {timeout:.0f} s; check that "
                "the host is up and reachable over SSH"
            ) from None
        return (
            result.returncode,
            result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
        )

    def run(
        self,
        host: str,
        script: str,
        stdin: Path | bytes | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> str:
        """Run ``script`` on ``host``; its stdout, or :class:`ExternalCommandError`."""
        status, stdout, stderr = self.call(host, script, stdin, timeout)
        if status != 0:
            raise ExternalCommandError(
                f"{host}: '{script[:60]}' failed (exit {status}): "
                f"{stderr.strip() or stdout.strip() or 'no output'}; check root SSH access "
                f"to {self.user}@{host} (a deploy job) and that kexec-tools is installed"
            )
        return stdout


def push_artefacts(
    shell: HostShell, host: str, files: dict[str, Path], remote_dir: str = REMOTE_DIR
) -> list[str]:
    """Copy the files (digest → local path) missing in ``remote_dir`` on ``host``; the digests
    copied."""
    listing = shell.run(host, f"mkdir -p {remote_dir} && ls -1 {remote_dir}")
    present = set(listing.split())
    pushed = []
    for digest, path in files.items():
        if digest in present:
            continue
        target = f"{remote_dir}/{digest}"
        shell.run(
            host,
            f"cat > {target}.part && mv {target}.part {target}",
            stdin=path,
            timeout=PUSH_TIMEOUT,
        )
        pushed.append(digest)
    return pushed
