"""Console lines of the nodes in the driver's log: real files written while a follower runs."""

from __future__ import annotations

import io
import time
from pathlib import Path

from nxc.driver.console import ConsoleFollower
from nxc.driver.logger import DriverLogger


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the follower did not log the line"
        time.sleep(0.05)


def test_new_complete_lines_are_logged_under_the_machine_name(tmp_path: Path) -> None:
    console = tmp_path / "node1.console.log"
    console.write_bytes(b"boot line printed before the driver started\n")
    stream = io.StringIO()
    logger = DriverLogger(stream=stream, color=False)
    sources = {"node1": console, "node2": tmp_path / "absent.log"}
    with ConsoleFollower(sources, logger, 0.05), console.open("ab") as out:
        out.write(b"[   1.5] eth0: link up\r\nhalf a li")
        out.flush()
        wait_for(lambda: "node1 # [   1.5] eth0: link up" in stream.getvalue())
        assert "half a li" not in stream.getvalue()
        out.write(b"ne\n")
    text = stream.getvalue()
    assert "node1 # half a line" in text
    assert "before the driver started" not in text
    assert "\r" not in text


def test_a_relaunched_console_is_read_from_its_start(tmp_path: Path) -> None:
    console = tmp_path / "node1.console.log"
    console.write_bytes(b"a long first boot\n" * 10)
    stream = io.StringIO()
    with ConsoleFollower({"node1": console}, DriverLogger(stream=stream, color=False), 0.05):
        console.write_bytes(b"second boot\n")  # QEMU truncates the file when relaunched
        wait_for(lambda: "node1 # second boot" in stream.getvalue())


def test_serial_stdout_off_silences_console_lines(tmp_path: Path) -> None:
    console = tmp_path / "node1.console.log"
    console.touch()
    stream = io.StringIO()
    logger = DriverLogger(stream=stream, color=False)
    logger.print_serial_logs(False)
    follower = ConsoleFollower({"node1": console}, logger)
    console.write_bytes(b"quiet\n")
    follower.poll()
    assert "quiet" not in stream.getvalue()
