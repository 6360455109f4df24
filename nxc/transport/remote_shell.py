"""What every transport does the same way to a node's shell: one command line, the process
group announcement, and the script that stops a command's process group.

A command runs as ``sh -c`` (through SSH or ``docker exec``) after a first line that prints
``nxc-process-group:<pgid>`` on stderr. Transports strip that line from the output and keep the
number: neither OpenSSH (for root sessions) nor the Docker engine delivers signals to a running
command, so a command past its timeout is stopped by running :func:`kill_group_script` beside it.
"""

from __future__ import annotations

import contextlib
import shlex

from nxc.transport.base import Command

PROCESS_GROUP_MARKER = "nxc-process-group:"
"""Start of the stderr line announcing a command's process group."""


def command_line(command: Command) -> str:
    """``command`` as one shell command line (argument lists are quoted)."""
    return command if isinstance(command, str) else shlex.join(command)


def wrap_command(command: str) -> str:
    """``command`` preceded by a line announcing its process group on stderr."""
    return f"echo {PROCESS_GROUP_MARKER}$$ >&2\n{command}"


def process_group_of(line: str) -> int | None:
    """The process group a marker line announces; ``None`` for any other line."""
    if line.startswith(PROCESS_GROUP_MARKER):
        with contextlib.suppress(ValueError):
            return int(line[len(PROCESS_GROUP_MARKER) :])
    return None


def kill_group_script(process_group: int) -> str:
    """Shell code terminating ``process_group``, then killing it if still there after ~2 s."""
    group = f"-{process_group}"
    return (
        f"kill -TERM -- {group} 2>/dev/null || exit 0; "
        f"for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- {group} 2>/dev/null || exit 0; "
        f"sleep 0.2; done; kill -KILL -- {group} 2>/dev/null; exit 0"
    )
