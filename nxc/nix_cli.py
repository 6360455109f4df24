"""Every call of the ``nix`` command line: finding it, its version, common flags, error text.

Nix 2.8 (Debian's ``nix-bin``) and current Nix are both supported: flakes are enabled with
``--extra-experimental-features``, never through the user's ``nix.conf``; results are read
from ``-o LINK`` symlinks because ``--print-out-paths`` does not exist in 2.8.

Projects are referred to as ``path:<absolute folder>`` flakes: a ``git+file:`` flake only sees
git-tracked files, so fresh files of a new project would be invisible. The price is that the
whole folder is copied into the (world-readable) store on evaluation, so the folder nxc names
is a snapshot of the project without its working folders (``nxc.build.flake_source``).
"""

from __future__ import annotations

import grp
import os
import re
import shlex
import subprocess
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nxc.errors import (
    ExternalCommandError,
    NixpkgsUnreachableError,
    NixTooOldError,
    NxcError,
    ProjectError,
)
from nxc.programs import find_program

MINIMUM_VERSION = (2, 4, 0)
"""Nix 2.4 is the first release with ``nix build`` on flakes."""

EVAL_TIMEOUT = 600
"""Seconds an evaluation (``nix eval``) may take before nxc gives up."""

STOP_TIMEOUT = 10
"""Seconds an interrupted ``nix build`` gets to stop its builders before it is killed."""

BUILD_TAIL_LINES = 2000
"""Last lines of a build's output kept to explain a failure (the whole log is in a file)."""

OFFLINE_ENV = "NXC_NIX_OFFLINE"
"""Set to 1 to run Nix without binary caches (machines without network)."""

SETUP_OVERRIDES_ENV = "NXC_SETUP_OVERRIDES"
"""JSON {variant, params} read by the Nix library (needs ``--impure``)."""

_UNREACHABLE_PATTERNS = (
    "unable to download",
    "could not resolve host",
    "couldn't resolve host",
    "failed to connect",
    "network is unreachable",
)


def parse_version(text: str) -> tuple[int, int, int]:
    """Version triple from ``nix --version`` output (``nix (Nix) 2.8.0``, ``2.24.10pre``)."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise ExternalCommandError(f"cannot read the Nix version from {text.strip()!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def meaningful_error_lines(stderr: str, limit: int = 12) -> list[str]:
    """The few lines of a Nix failure that tell what went wrong.

    Drops warnings, progress lines and the ``… while evaluating`` trace; keeps the ``error:``
    block (its message and the source position lines that follow it).
    """
    lines = [line.rstrip() for line in stderr.splitlines()]
    errors = [i for i, line in enumerate(lines) if line.lstrip().startswith("error")]
    # Nix >= 2.13 prints "error:" then the trace frames, then the actual "error: <message>"
    with_text = [i for i in errors if lines[i].strip() not in ("error", "error:")]
    start = with_text[-1] if with_text else (errors[0] if errors else None)
    if start is None:
        plain = [line for line in lines if line.strip() and not line.startswith("warning:")]
        return plain[-limit:]
    kept: list[str] = []
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped or stripped.startswith(("…", "(use '--show-trace'", "warning:")):
            continue
        if stripped.startswith("building '") or stripped.startswith("copying "):
            continue
        kept.append(line)
        if len(kept) >= limit:
            break
    return kept


def nxc_message(lines: Iterable[str]) -> str | None:
    """The message of an ``nxc:`` error thrown by the Nix library, if that is what failed."""
    for line in lines:
        match = re.search(r"error:\s+nxc: (.*)", line)
        if match:
            return match.group(1).strip()
    return None


def _needs_build_users_override() -> bool:
    """True when running as root and Nix's default ``nixbld`` group does not exist."""
    if os.geteuid() != 0:
        return False
    try:
        grp.getgrnam("nixbld")
    except KeyError:
        return True
    return False


@dataclass
class NixCommand:
    """How nxc runs Nix: the program, its version and the flags every call gets."""

    program: str
    version: tuple[int, int, int]
    offline: bool = False
    show_trace: bool = False
    extra_flags: list[str] = field(default_factory=list)
    env_overrides: dict[str, str] = field(default_factory=dict)
    on_command: Callable[[list[str]], None] | None = None
    """Called with each Nix command line before it runs (``nxc --debug`` prints them)."""

    @classmethod
    def find(
        cls,
        *,
        show_trace: bool = False,
        extra_flags: list[str] | None = None,
        offline: bool | None = None,
    ) -> NixCommand:
        """Locate ``nix`` on PATH and check that its version has flakes."""
        program = find_program("nix", "nix-bin", "to build compositions")
        try:
            output = subprocess.run(
                [program, "--version"], capture_output=True, text=True, timeout=30, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError) as error:
            raise ExternalCommandError(f"'{program} --version' failed: {error}") from error
        version = parse_version(output)
        if version < MINIMUM_VERSION:
            raise NixTooOldError(
                program, ".".join(map(str, version)), ".".join(map(str, MINIMUM_VERSION))
            )
        if offline is None:
            offline = os.environ.get(OFFLINE_ENV, "") not in ("", "0")
        return cls(
            program=program,
            version=version,
            offline=offline,
            show_trace=show_trace,
            extra_flags=list(extra_flags or []),
        )

    def common_flags(self) -> list[str]:
        """Flags for every call: flakes on, no registry download, offline options if asked."""
        flags = [
            "--extra-experimental-features",
            "nix-command flakes",
            "--option",
            "flake-registry",
            "",
        ]
        if self.offline:
            flags += ["--option", "substituters", "", "--option", "download-attempts", "1"]
        if _needs_build_users_override():
            flags += ["--option", "build-users-group", ""]
        if self.show_trace:
            flags.append("--show-trace")
        if self.env_overrides:
            flags.append("--impure")
        return flags + self.extra_flags

    def argv(self, subcommand: list[str]) -> list[str]:
        """Full argument list for ``nix <subcommand...>`` with the common flags."""
        argv = [self.program, *subcommand, *self.common_flags()]
        if self.on_command is not None:
            self.on_command(argv)
        return argv

    def environment(self) -> dict[str, str]:
        """The environment Nix runs with (the caller's, plus setup overrides)."""
        return {**os.environ, **self.env_overrides}

    def eval_json(self, installable: str, apply: str | None = None) -> Any:
        """Evaluate ``installable`` (``path:/dir#attr``) to JSON; raise a clear error on failure."""
        import json

        command = ["eval", "--json", installable]
        if apply is not None:
            command += ["--apply", apply]
        result = self._run_captured(command)
        return json.loads(result)

    def eval_raw(self, installable: str) -> str:
        """Evaluate ``installable`` to a string (``nix eval --raw``)."""
        return self._run_captured(["eval", "--raw", installable])

    def _run_captured(self, command: list[str]) -> str:
        argv = self.argv(command)
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=EVAL_TIMEOUT,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as error:
            raise ExternalCommandError(
                f"'nix {command[0]}' did not finish within {EVAL_TIMEOUT} s"
            ) from error
        if result.returncode != 0:
            raise self.failure(command[0], result.stderr)
        return result.stdout

    def build(
        self,
        installable: str,
        out_link: Path,
        log_path: Path,
        on_line: Callable[[str], None] | None = None,
        dry_run: bool = False,
    ) -> Path | None:
        """Build ``installable``, link the result at ``out_link`` (a GC root); return its path.

        Nix's log goes to ``log_path`` and, line by line, to ``on_line``. With ``dry_run`` Nix
        only says what it would build and nothing is linked (returns None).

        Interrupting the build (Ctrl-C, or ``on_line`` raising) stops Nix before the exception
        goes on. There is no time limit: building a NixOS system may legitimately take hours.
        """
        command = ["build", installable, "-L"]
        command += ["--dry-run"] if dry_run else ["-o", str(out_link)]
        log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = self.argv(command)
        with log_path.open("w") as log:
            log.write(f"$ {shlex.join(argv)}\n")
            process = subprocess.Popen(
                argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=self.environment(),
            )
            try:
                tail = _follow_build_log(process, log, on_line)
                code = process.wait()
            except BaseException:
                _stop(process)
                raise
        if code != 0:
            raise self.failure("build", "".join(tail), log_path)
        if dry_run:
            return None
        return Path(os.readlink(out_link))

    def failure(self, what: str, stderr: str, log_path: Path | None = None) -> NxcError:
        """Turn a failed Nix call into the right nxc error with its meaningful lines."""
        lines = meaningful_error_lines(stderr)
        message = nxc_message(stderr.splitlines())
        if message is not None:
            return ProjectError(message)
        text = "\n".join(lines)
        lowered = stderr.lower()
        if any(pattern in lowered for pattern in _UNREACHABLE_PATTERNS):
            return NixpkgsUnreachableError(
                "Nix could not download an input of this project (nixpkgs is unreachable "
                "without network); run where Nix can reach it, or point the inputs at a "
                f"local copy:\n{text}",
                log_path,
            )
        return ExternalCommandError(f"nix {what} failed:\n{text}", log_path)


def _follow_build_log(
    process: subprocess.Popen[str], log: TextIO, on_line: Callable[[str], None] | None
) -> deque[str]:
    """Copy Nix's stderr to ``log`` and ``on_line`` until it ends; return its last lines.

    Lines from the first ``error`` on are not passed to ``on_line``: the caller reports the
    error once, condensed.
    """
    assert process.stderr is not None
    tail: deque[str] = deque(maxlen=BUILD_TAIL_LINES)
    in_error = False
    for line in process.stderr:
        log.write(line)
        log.flush()
        tail.append(line)
        in_error = in_error or line.startswith("error")
        if on_line is not None and not in_error:
            on_line(line.rstrip("\n"))
    return tail


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate ``process`` (Nix stops its builders in turn); kill it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
