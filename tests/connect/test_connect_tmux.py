"""nxc.connect against a real tmux server on a private socket, read back with capture-pane."""

import time
import uuid

import pytest

from nxc.connect import (
    PaneTarget,
    open_session,
    parse_geometry,
    session_name_for,
    split_into_windows,
    tmux_server,
)
from nxc.errors import InputError


@pytest.fixture
def server():
    srv = tmux_server(socket_name=f"nxc-test-{uuid.uuid4().hex[:8]}")
    yield srv
    if srv.is_alive():
        srv.kill()


def targets(count: int) -> list[PaneTarget]:
    return [
        PaneTarget(f"node{i}", ["sh", "-c", f"echo hello-from-node{i}; exec cat"])
        for i in range(1, count + 1)
    ]


def wait_for_text(pane, text: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = pane.capture_pane()
        if any(text in line for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in pane; it shows {lines!r}")


def test_every_node_gets_a_titled_pane_and_none_is_dropped(server):
    session = open_session(server, "nxc-t", targets(11), grid=(2, 2))
    windows = session.windows
    assert [len(w.panes) for w in windows] == [4, 4, 3]
    seen = []
    for window in windows:
        for pane in window.panes:
            title = pane.cmd("display-message", "-p", "#{pane_title}").stdout[0]
            wait_for_text(pane, f"hello-from-{title}")
            seen.append(title)
    assert seen == [f"node{i}" for i in range(1, 12)]


def test_send_types_the_command_into_every_pane(server):
    session = open_session(server, "nxc-send", targets(3), send="typed-to-all")
    for pane in session.windows[0].panes:
        wait_for_text(pane, "typed-to-all")


def test_synchronize_sets_the_window_option(server):
    session = open_session(server, "nxc-sync", targets(2), synchronize=True)
    value = session.windows[0].cmd("show-window-options", "-v", "synchronize-panes").stdout
    assert value == ["on"]


def test_existing_session_is_not_clobbered(server):
    open_session(server, "nxc-twice", targets(1))
    with pytest.raises(InputError, match="already exists"):
        open_session(server, "nxc-twice", targets(1))


def test_geometry_and_window_split():
    assert parse_geometry("3x2") == (3, 2)
    with pytest.raises(InputError, match="COLUMNSxROWS"):
        parse_geometry("3by2")
    with pytest.raises(InputError):
        parse_geometry("0x2")
    groups = split_into_windows(targets(5), 2)
    assert [[t.title for t in g] for g in groups] == [
        ["node1", "node2"],
        ["node3", "node4"],
        ["node5"],
    ]


def test_session_names_are_valid_for_tmux():
    assert session_name_for("composition::vm::a.b") == "nxc-composition-vm-a-b"
