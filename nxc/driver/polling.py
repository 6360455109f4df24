"""Waiting helpers shared by machines and test scripts: ``retry`` and polling conditions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from nxc.driver.logger import DriverLogger
from nxc.errors import PollingConditionError, RequestedAssertionFailed

#: Seconds between two attempts of every ``wait_*`` call, as in the NixOS test driver.
RETRY_INTERVAL = 1.0


def retry(fn: Callable[[bool], bool], timeout_seconds: float = 900) -> None:
    """Call ``fn(last_try)`` every second until it returns true, for ``timeout_seconds``.

    After the deadline ``fn`` gets one last call with ``last_try=True`` (so it can log what it
    sees); if that fails too, :class:`RequestedAssertionFailed` is raised.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout_seconds:
        if fn(False):
            return
        time.sleep(RETRY_INTERVAL)
    elapsed = time.monotonic() - started
    if not fn(True):
        raise RequestedAssertionFailed(
            f"action timed out after {elapsed:.2f} seconds (timeout={timeout_seconds})"
        )


class PollingCondition:
    """A check that must keep holding while a block of the test script runs.

    The driver calls :meth:`maybe_raise` before every command a machine runs; the check itself
    runs at most once per ``seconds_interval``. A check returning ``None`` counts as success,
    an exception as failure.
    """

    def __init__(
        self,
        condition: Callable[[], bool | None],
        logger: DriverLogger,
        seconds_interval: float = 2.0,
        description: str | None = None,
    ) -> None:
        self.condition = condition
        self.logger = logger
        self.seconds_interval = seconds_interval
        if description is not None:
            self.description = str(description)
        else:
            self.description = (condition.__doc__ or "").strip() or getattr(
                condition, "__name__", repr(condition)
            )
        self.last_called = -math.inf
        self._running = 0

    def check(self, force: bool = False) -> bool:
        """Run the condition if it is due (or ``force``); return whether it holds."""
        overdue = self.last_called + self.seconds_interval < time.monotonic()
        if not force and (self._running or not overdue):
            return True
        self._running += 1
        try:
            with self.logger.nested(f"checking polling condition {self.description!r}"):
                try:
                    result = self.condition()
                except Exception as error:
                    self.logger.info(f"condition raised {type(error).__name__}: {error}")
                    result = False
                holds = result is None or bool(result)
                self.logger.info(self.status_message(holds))
                return holds
        finally:
            self._running -= 1
            self.last_called = time.monotonic()

    def maybe_raise(self) -> None:
        """Raise :class:`PollingConditionError` if the condition is due and does not hold."""
        if not self.check():
            raise PollingConditionError(self.status_message(False))

    def status_message(self, holds: bool) -> str:
        """One line saying whether the condition held."""
        return f"Polling condition {'succeeded' if holds else 'failed'}: {self.description}"
