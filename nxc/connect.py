"""tmux sessions with one pane per node, through libtmux.

A session holds as many windows as needed: each window gets at most ``panes_per_window``
panes (a readable grid), and nodes beyond it go to further windows — never dropped.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nxc.errors import InputError
from nxc.programs import find_program

if TYPE_CHECKING:
    import libtmux

DEFAULT_GRID = (2, 4)


@dataclass(frozen=True)
class PaneTarget:
    """What one pane shows: a title (the hostname) and the command that reaches the node."""

    title: str
    argv: list[str]


def parse_geometry(text: str) -> tuple[int, int]:
    """Parse ``COLUMNSxROWS`` (e.g. ``2x4``) into a pair of positive integers."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise InputError.naming(
            f"{{geometry}} '{text}' is not COLUMNSxROWS with positive numbers; use e.g. 2x4",
            "geometry",
        )
    return int(match[1]), int(match[2])


def split_into_windows(
    targets: Sequence[PaneTarget], panes_per_window: int
) -> list[list[PaneTarget]]:
    """Group targets, in order, into windows of at most ``panes_per_window`` panes."""
    if panes_per_window < 1:
        raise InputError("a tmux window needs room for at least one pane")
    return [
        list(targets[i : i + panes_per_window]) for i in range(0, len(targets), panes_per_window)
    ]


def session_name_for(deployment_name: str) -> str:
    """A tmux session name for a deployment (tmux forbids ``.`` and ``:`` in names)."""
    return "nxc-" + re.sub(r"[^A-Za-z0-9_-]+", "-", deployment_name).strip("-")


def tmux_server(socket_name: str | None = None) -> libtmux.Server:
    """The tmux server to use (the default one, or a named socket as with ``tmux -L``)."""
    find_program("tmux", "tmux", "by nxc connect")
    import libtmux

    return libtmux.Server(socket_name=socket_name)


def open_session(
    server: libtmux.Server,
    session_name: str,
    targets: Sequence[PaneTarget],
    *,
    grid: tuple[int, int] = DEFAULT_GRID,
    synchronize: bool = False,
    send: str | None = None,
) -> libtmux.Session:
    """Create ``session_name`` with one titled pane per target, running its command.

    Panes stay open when their command ends so that a failed connection stays readable.
    With ``synchronize`` what is typed in one pane goes to all panes of its window; ``send``
    types one command line into every pane once.
    """
    if not targets:
        raise InputError("no node to connect to; check the hostnames or role given")
    if server.has_session(session_name):
        raise InputError(
            f"tmux session '{session_name}' already exists; attach with "
            f"'tmux attach -t {session_name}' or close it with 'tmux kill-session -t {session_name}'"
        )
    columns, rows = grid
    windows = split_into_windows(targets, columns * rows)
    session = server.new_session(
        session_name=session_name,
        window_name=_window_name(windows[0], 0, len(windows)),
        window_command=shlex.join(windows[0][0].argv),
        x=max(80, columns * 80),
        y=max(24, rows * 12),
    )
    session.set_option("remain-on-exit", "on")
    for index, group in enumerate(windows):
        if index == 0:
            window = session.active_window
        else:
            window = session.new_window(
                window_name=_window_name(group, index, len(windows)),
                window_shell=shlex.join(group[0].argv),
            )
        _fill_window(window, group, synchronize)
    if send is not None:
        for window in session.windows:
            for pane in window.panes:
                pane.send_keys(send, enter=True)
    session.windows[0].select()
    return session


def _window_name(group: list[PaneTarget], index: int, count: int) -> str:
    if count == 1:
        return "nodes"
    return f"{group[0].title}..{group[-1].title}"


def _fill_window(window: libtmux.Window, group: list[PaneTarget], synchronize: bool) -> None:
    window.set_option("pane-border-status", "top")
    window.set_option("pane-border-format", " #{pane_title} ")
    for target in group[1:]:
        window.panes[-1].split(shell=shlex.join(target.argv))
        window.select_layout("tiled")
    window.select_layout("tiled")
    for pane, target in zip(window.panes, group, strict=True):
        pane.cmd("select-pane", "-T", target.title)
    if synchronize:
        window.set_option("synchronize-panes", "on")
