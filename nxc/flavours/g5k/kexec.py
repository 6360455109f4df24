"""Booting physical hosts into a composition with kexec: command lines, pushes, remote shell.

The kexec flavours reach each reserved host as root over OpenSSH (on Grid'5000: a ``deploy``
job, the user's key authorized for root), copy the kernel and initrd there once per content
(files named by their SHA-256 under :data:`REMOTE_DIR`), then load them with ``kexec -l`` and the
node's own kernel parameters and start ``kexec -e`` detached with ``setsid`` (``nohup`` would
die with the SSH session).

:data:`REMOTE_DIR` sits in the world-writable ``/tmp`` of a host other users may log into, so
nothing found there is trusted by its name (:func:`push_artefacts`): the folder must be a real
folder owned by the remote user (made with mode 0700, refused if it is a link or belongs to
someone else), every file is used only once its SHA-256 was checked on the host, and a copy is
written to a fresh ``mktemp`` name inside the folder, checked, then renamed into place (no
fixed temporary name to plant a link at).

Kernel parameters per node (docs/node-contract.md): the manifest's command line, then the
deployment info inline (``nxc.info=``, base64url) while the whole line fits in
:data:`MAX_CMDLINE` bytes, else ``nxc.info_url=``, then ``nxc.host_key_url=``: where the node
fetches its private host key, once, from the info server (:mod:`nxc.infoserver`). No key is
ever on a command line (``/proc/cmdline`` is readable by every user of the node).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shlex
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nxc.errors import ExternalCommandError, InputError
from nxc.programs import find_program

MAX_CMDLINE = 2048
"""x86 kernel command line size, terminating NUL included."""

REMOTE_DIR = "/tmp/nxc-kexec"
PUSH_TIMEOUT = 600.0
COMMAND_TIMEOUT = 60.0


NXC_PARAM_PREFIX = "nxc."
"""Kernel parameters nxc gives the nodes itself (docs/node-contract.md): never the user's."""


def _has_control(text: str) -> bool:
    """Whether ``text`` holds a control character other than a tab (a newline, a NUL...)."""
    return any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in text)


def user_kernel_params(params: Sequence[str], option: str = "kernel_params") -> tuple[str, ...]:
    """The user's extra kernel parameters as words, checked; :class:`InputError` in one line.

    Each item may hold several words (``"a=b c"``). Refused: control characters (a newline
    would end the command line early) and any ``nxc.*`` parameter (nxc's own: the deployment
    info, the host key URL...).
    """
    words: list[str] = []
    for item in params:
        if _has_control(item):
            raise InputError.naming(
                f"{{{option}}} {item!r} holds a newline or control character; give plain "
                "space-separated parameters",
                option,
            )
        for word in item.split():
            if word.split("=", 1)[0].lower().startswith(NXC_PARAM_PREFIX):
                raise InputError.naming(
                    f"{{{option}}} {word!r}: nxc.* parameters are nxc's own (deployment info, "
                    "host key); drop it",
                    option,
                )
            words.append(word)
    return tuple(words)


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (the contract's kernel-parameter encoding)."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def node_command_line(
    base: str, key_url: str, info: bytes | None = None, info_url: str | None = None
) -> str:
    """The kernel command line of one node: ``base``, the info (inline or URL), where its host
    key is fetched."""
    if (info is None) == (info_url is None):
        raise ValueError("give exactly one of info and info_url")
    words = [base.strip()] if base.strip() else []
    words.append(f"nxc.info={b64url(info)}" if info is not None else f"nxc.info_url={info_url}")
    words.append(f"nxc.host_key_url={key_url}")
    return " ".join(words)


def fits(command_line: str) -> bool:
    """Whether ``command_line`` fits the kernel's buffer (with its terminating NUL)."""
    return len(command_line.encode()) < MAX_CMDLINE


def inline_fits(base: str, info: bytes, key_urls: Iterable[str]) -> bool:
    """Whether every node's command line fits with the info inline."""
    return all(fits(node_command_line(base, url, info=info)) for url in key_urls)


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

    It holds the info server's token (in the key URL): send it on the standard input of
    ``sh -s``, never in an argument list (visible to every user of the frontend).
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
        return cls(
            user,
            tuple(options),
            find_program("ssh", "openssh-client", "to reach the reserved hosts"),
        )

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
        doing: str | None = None,
    ) -> str:
        """Run ``script`` on ``host``; its stdout, or :class:`ExternalCommandError` (saying
        ``cannot <doing>`` when given, else naming the script)."""
        status, stdout, stderr = self.call(host, script, stdin, timeout)
        if status != 0:
            reason = stderr.strip() or stdout.strip() or "no output"
            if doing is not None:
                raise ExternalCommandError(f"{host}: cannot {doing} (exit {status}): {reason}")
            raise ExternalCommandError(
                f"{host}: '{script[:60]}' failed (exit {status}): {reason}; check root SSH "
                f"access to {self.user}@{host} (a deploy job) and that kexec-tools is installed"
            )
        return stdout


_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
PUSH_DOING = "push the boot files"


def _private_dir(remote_dir: str) -> str:
    """Shell code making ``$d`` = ``remote_dir`` a private folder of the remote user, or exit 3.

    ``/tmp`` is sticky, so once the folder is a real folder owned by this user nobody else can
    rename, replace or write into it (after ``chmod 700``).
    """
    return (
        f"d={shlex.quote(remote_dir)}; umask 077; "
        'mkdir -m 700 "$d" 2>/dev/null; '
        'if [ -L "$d" ] || [ ! -d "$d" ]; then '
        'echo "nxc: $d is not a folder (a symbolic link or a file); remove it" >&2; exit 3; fi; '
        'set -- $(stat -c "%u %a" "$d"); '
        'if [ "$1" != "$(id -u)" ]; then echo "nxc: $d belongs to uid $1, not to uid $(id -u) '
        '(made by another user?); remove it" >&2; exit 3; fi; '
        '[ "$2" = 700 ] || chmod 700 "$d" || exit 3; '
    )


def _valid_files(remote_dir: str, digests: Sequence[str]) -> str:
    """Shell code printing those of ``digests`` whose file is a regular file of this user with
    that SHA-256; whatever else sits at their names (links, folders, other content) is removed."""
    return _private_dir(remote_dir) + (
        f"for f in {' '.join(digests)}; do p=$d/$f; "
        'if [ -f "$p" ] && [ ! -L "$p" ] && [ "$(stat -c %u "$p")" = "$(id -u)" ]; then '
        's=$(sha256sum < "$p") || exit 4; '
        'if [ "${s%% *}" = "$f" ]; then echo "$f"; continue; fi; fi; '
        'rm -rf "$p" || exit 4; done'
    )


def _receive(remote_dir: str, digest: str) -> str:
    """Shell code writing stdin to a fresh temporary file in the folder, checking its SHA-256,
    then renaming it to ``digest``."""
    return _private_dir(remote_dir) + (
        't=$(mktemp "$d/.part.XXXXXXXX") || exit 4; '
        "trap 'rm -f \"$t\"' EXIT HUP INT TERM; "
        'cat > "$t" || exit 4; s=$(sha256sum < "$t") || exit 4; s=${s%% *}; '
        f'if [ "$s" != {digest} ]; then echo "nxc: the copy has SHA-256 $s, not {digest} '
        '(corrupted on the way?)" >&2; exit 4; fi; '
        f'p=$d/{digest}; if [ -d "$p" ] && [ ! -L "$p" ]; then rm -rf "$p" || exit 4; fi; '
        'mv -f "$t" "$p" && trap - EXIT HUP INT TERM'
    )


def push_artefacts(
    shell: HostShell, host: str, files: dict[str, Path], remote_dir: str = REMOTE_DIR
) -> list[str]:
    """Copy the files (SHA-256 digest → local path) to ``remote_dir`` on ``host`` unless a file
    with that content is already there; the digests copied.

    Every file is checked on the host: those already present by content, each copy before it
    takes its name. :class:`ExternalCommandError` if ``remote_dir`` is not a private folder of
    the remote user, or a copy arrives altered.
    """
    digests = list(files)
    bad = [digest for digest in digests if not _DIGEST_RE.fullmatch(digest)]
    if bad:
        raise ValueError(f"not SHA-256 hex digests: {bad}")
    listing = shell.run(host, _valid_files(remote_dir, digests), doing=PUSH_DOING)
    present = set(listing.split())
    pushed = []
    for digest, path in files.items():
        if digest in present:
            continue
        shell.run(host, _receive(remote_dir, digest), path, PUSH_TIMEOUT, PUSH_DOING)
        pushed.append(digest)
    return pushed
