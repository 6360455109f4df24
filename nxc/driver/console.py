"""The nodes' console lines in the driver's log, as the NixOS test driver shows them.

A :class:`ConsoleFollower` reads the console log files a flavour keeps (one per node) from
where they end when it starts, in a background thread, and hands each new complete line to
:meth:`DriverLogger.log_serial` (``machine # line``), which ``serial_stdout_off()`` silences.
A file that shrinks (a node relaunched with a fresh console) is read again from its start.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from nxc.driver.logger import DriverLogger

POLL_INTERVAL = 0.5


class ConsoleFollower:
    """Follows ``sources`` (machine name → console log file) into ``logger``."""

    def __init__(
        self, sources: dict[str, Path], logger: DriverLogger, interval: float = POLL_INTERVAL
    ) -> None:
        self.sources = dict(sources)
        self.logger = logger
        self.interval = interval
        self._offsets = {name: _size(path) for name, path in self.sources.items()}
        self._partial = {name: b"" for name in self.sources}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nxc-console", daemon=True)

    def __enter__(self) -> ConsoleFollower:
        if self.sources:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.poll()

    def poll(self) -> None:
        """Log the lines written since the last poll."""
        for name, path in self.sources.items():
            for line in self._new_lines(name, path):
                self.logger.log_serial(line, name)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def _new_lines(self, name: str, path: Path) -> list[str]:
        size = _size(path)
        if size < self._offsets[name]:
            self._offsets[name], self._partial[name] = 0, b""
        if size == self._offsets[name]:
            return []
        try:
            with path.open("rb") as console:
                console.seek(self._offsets[name])
                chunk = console.read(size - self._offsets[name])
        except OSError:
            return []
        self._offsets[name] += len(chunk)
        *complete, self._partial[name] = (self._partial[name] + chunk).split(b"\n")
        return [line.decode(errors="replace").rstrip("\r") for line in complete]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
