"""The driver's log: nested timed groups on the terminal, subtests recorded for JUnit XML.

Test scripts reach it as ``log`` (``log.info(...)``, ``with log.nested("..."):``), as in the
NixOS test driver. Every line goes to the terminal (stderr) and into the record of the
subtest that is running, so a JUnit report can show each subtest's own output.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TextIO

_BOLD_GREEN = "\033[1;32m"
_RED = "\033[31m"
_DIM = "\033[2m"
_RESET = "\033[0m"


class LogLevel(IntEnum):
    """How much to show, lowest first."""

    DEBUG = 1
    INFO = 2
    WARNING = 3
    ERROR = 4


@dataclass
class SubtestRecord:
    """One subtest as it ran: its output, duration and, if it failed, why."""

    name: str
    started: float
    duration: float = 0.0
    output: list[str] = field(default_factory=list)
    failure_type: str | None = None
    failure_message: str | None = None
    failure_detail: str = ""

    @property
    def failed(self) -> bool:
        """Whether an exception left this subtest."""
        return self.failure_type is not None


class DriverLogger:
    """Writes the driver's log and records subtests; the ``log`` symbol of test scripts."""

    def __init__(
        self,
        stream: TextIO | None = None,
        level: LogLevel = LogLevel.INFO,
        color: bool | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.level = level
        self.color = color if color is not None else _is_terminal(self.stream)
        self.subtests: list[SubtestRecord] = []
        self.output: list[str] = []
        self._depth = 0
        self._open_subtests: list[SubtestRecord] = []
        self._print_serial = True
        self._lock = threading.Lock()  # console lines come from another thread

    # -- plain lines ------------------------------------------------------------------------

    def log(self, message: str, attributes: dict[str, str] | None = None) -> None:
        """Log one message (prefixed by its machine's name when ``attributes`` has one)."""
        self._emit(message, attributes, LogLevel.INFO)

    def debug(self, message: str, attributes: dict[str, str] | None = None) -> None:
        """Log a detail shown only at debug level."""
        self._emit(message, attributes, LogLevel.DEBUG, style=_DIM)

    def info(self, message: str, attributes: dict[str, str] | None = None) -> None:
        """Log an informative message."""
        self._emit(message, attributes, LogLevel.INFO)

    def warning(self, message: str, attributes: dict[str, str] | None = None) -> None:
        """Log a warning."""
        self._emit(message, attributes, LogLevel.WARNING)

    def error(self, message: str, attributes: dict[str, str] | None = None) -> None:
        """Log an error (it does not stop the script: raise for that)."""
        self._emit(message, attributes, LogLevel.ERROR, style=_RED)

    def log_test_error(self, message: str, attributes: dict[str, str] | None = None) -> None:
        """Log one line of a test failure, marked ``!!!`` so it stands out."""
        self._emit(f"!!! {message}", attributes, LogLevel.ERROR, style=_RED)

    def log_serial(self, message: str, machine: str) -> None:
        """Log a line a machine printed on its console, unless serial output is off."""
        if self._print_serial:
            self._emit(f"{machine} # {message}", None, LogLevel.INFO, style=_DIM)

    def print_serial_logs(self, enable: bool) -> None:
        """Show (``True``) or hide console lines of machines."""
        self._print_serial = enable

    def set_log_level(self, level: LogLevel) -> None:
        """Change how much is shown."""
        self.level = level

    # -- groups -----------------------------------------------------------------------------

    @contextmanager
    def nested(self, message: str, attributes: dict[str, str] | None = None) -> Iterator[None]:
        """Group what happens inside under ``message`` and log how long it took."""
        self._emit(message, attributes, LogLevel.INFO, style=_BOLD_GREEN)
        started = time.monotonic()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            elapsed = time.monotonic() - started
            self._emit(
                f"(finished: {message}, in {elapsed:.2f} seconds)", attributes, LogLevel.INFO
            )

    @contextmanager
    def subtest(
        self, name: str, attributes: dict[str, str] | None = None
    ) -> Iterator[SubtestRecord]:
        """A named, timed part of the test; one test case in the JUnit report."""
        record = SubtestRecord(name=name, started=time.monotonic())
        self.subtests.append(record)
        self._open_subtests.append(record)
        try:
            with self.nested(f"subtest: {name}", attributes):
                yield record
        except BaseException as error:
            record.failure_type = type(error).__name__
            record.failure_message = str(error)
            self.log_test_error(f'Test "{name}" failed with error: "{error}"')
            raise
        finally:
            record.duration = time.monotonic() - record.started
            self._open_subtests.pop()

    # -- internals --------------------------------------------------------------------------

    def _emit(
        self,
        message: str,
        attributes: dict[str, str] | None,
        level: LogLevel,
        style: str = "",
    ) -> None:
        machine = (attributes or {}).get("machine")
        line = f"{machine}: {message}" if machine else message
        with self._lock:
            text = "  " * self._depth + line
            self.output.append(text)
            for record in self._open_subtests:
                record.output.append(text)
            if level < self.level:
                return
            if self.color and style:
                text = "  " * self._depth + f"{style}{line}{_RESET}"
            print(text, file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
