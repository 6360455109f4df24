"""``Driver``: the machines of one deployment, the test-script symbols, and running a script.

The symbols a script sees are those of the NixOS test driver: ``start_all``, ``join_all``,
``subtest``, ``retry``, ``polling_condition``, ``machines``, ``driver``, ``log``,
``serial_stdout_on``/``serial_stdout_off``, ``t`` (unittest assertions), ``os``, each machine
under its hostname made a Python name (``node-1`` → ``node_1``) and ``machine`` when there
is exactly one.
"""

from __future__ import annotations

import linecache
import os
import re
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import TestCase

from nxc.driver.logger import DriverLogger, SubtestRecord
from nxc.driver.machine import Machine
from nxc.driver.polling import PollingCondition, retry
from nxc.errors import RequestedAssertionFailed


class AssertionTester(TestCase):
    """``t`` in test scripts: unittest's assertions, failing as ``RequestedAssertionFailed``."""

    failureException = RequestedAssertionFailed

    def __init__(self) -> None:
        super().__init__(methodName="runTest")

    def runTest(self) -> None:  # unittest requires the method the instance is named after
        """Not a test of its own: the instance only lends its assertion methods."""


def pythonize_name(name: str) -> str:
    """A hostname as a Python identifier: ``node-1`` → ``node_1``, ``1node`` → ``_node``."""
    return re.sub(r"^[^A-Za-z_]|[^A-Za-z0-9_]", "_", name)


@dataclass
class ScriptOutcome:
    """How a test script ended."""

    passed: bool
    error_type: str | None = None
    error_message: str | None = None
    traceback_lines: list[str] = field(default_factory=list)
    duration: float = 0.0


class Driver:
    """The machines of a deployment plus everything a test script needs."""

    def __init__(
        self,
        machines: list[Machine],
        logger: DriverLogger,
        *,
        out_dir: Path | None = None,
        test_script: str | None = None,
        script_name: str = "<test script>",
    ) -> None:
        self.machines = sorted(machines, key=lambda machine: machine.name)
        self.logger = logger
        self.out_dir = out_dir if out_dir is not None else Path.cwd()
        self.tests = test_script
        self.script_name = script_name
        self.polling_conditions: list[PollingCondition] = []
        for machine in self.machines:
            machine.callbacks.append(self.check_polling_conditions)

    # -- symbols ----------------------------------------------------------------------------

    def test_symbols(self) -> dict[str, Any]:
        """The global names a test script (or the REPL) sees."""
        symbols: dict[str, Any] = {
            "start_all": self.start_all,
            "join_all": self.join_all,
            "subtest": self.subtest,
            "retry": retry,
            "polling_condition": self.polling_condition,
            "machines": self.machines,
            "driver": self,
            "log": self.logger,
            "serial_stdout_on": self.serial_stdout_on,
            "serial_stdout_off": self.serial_stdout_off,
            "t": AssertionTester(),
            "os": os,
            "test_script": self.test_script,
            "Machine": Machine,
            "BaseMachine": Machine,
        }
        for machine in self.machines:
            symbols[pythonize_name(machine.name)] = machine
        if len(self.machines) == 1:
            symbols["machine"] = self.machines[0]
        return symbols

    # -- what scripts call ------------------------------------------------------------------

    def start_all(self) -> None:
        """Start every machine that is off (they boot in parallel)."""
        with self.logger.nested("start all nodes"):
            for machine in self.machines:
                machine.start()

    def join_all(self) -> None:
        """Wait for every machine to power off."""
        with self.logger.nested("wait for all nodes to finish"):
            for machine in self.machines:
                machine.wait_for_shutdown()

    @contextmanager
    def subtest(self, name: str) -> Iterator[SubtestRecord]:
        """A named, timed group of the test (one test case in the JUnit report)."""
        with self.logger.subtest(name) as record:
            yield record

    def serial_stdout_on(self) -> None:
        """Show the machines' console lines in the log."""
        self.logger.print_serial_logs(True)

    def serial_stdout_off(self) -> None:
        """Hide the machines' console lines from the log."""
        self.logger.print_serial_logs(False)

    def check_polling_conditions(self) -> None:
        """Raise if a polling condition in force does not hold (run before each command)."""
        for condition in self.polling_conditions:
            condition.maybe_raise()

    def polling_condition(
        self,
        fun_: Callable[[], bool | None] | None = None,
        *,
        seconds_interval: float = 2.0,
        description: str | None = None,
    ) -> Any:
        """Decorator making a function a condition that must hold within a ``with`` block.

        ``@polling_condition`` or ``@polling_condition(seconds_interval=10)``; the result is
        used as ``with cond:`` and has ``cond.wait(timeout=900)``.
        """
        driver = self

        class Poll(AbstractContextManager[None]):
            def __init__(self, fun: Callable[[], bool | None]) -> None:
                self.condition = PollingCondition(fun, driver.logger, seconds_interval, description)

            def __enter__(self) -> None:
                driver.polling_conditions.append(self.condition)

            def __exit__(self, *_: object) -> None:
                driver.polling_conditions.remove(self.condition)

            def wait(self, timeout: int | float = 900) -> None:
                def holds(last_try: bool) -> bool:
                    if last_try:
                        driver.logger.info(f"Last chance for {self.condition.description}")
                    return self.condition.check(force=True)

                with driver.logger.nested(f"waiting for {self.condition.description}"):
                    retry(holds, timeout)

        if fun_ is None:
            return Poll
        return Poll(fun_)

    def test_script(self) -> None:
        """Run the loaded test script again (from the REPL)."""
        if self.tests is None:
            raise RequestedAssertionFailed("no test script was loaded; pass one to nxc driver")
        self.run_script(self.tests, self.script_name)

    # -- running a script -------------------------------------------------------------------

    def run_script(self, source: str, filename: str | None = None) -> ScriptOutcome:
        """Run a test script; log a traceback trimmed to the script's own lines on failure."""
        name = filename or self.script_name
        self.tests, self.script_name = source, name
        lines = source.splitlines(keepends=True)
        linecache.cache[name] = (len(source), None, lines, name)
        started = time.monotonic()
        with self.logger.nested("run the test script"):
            try:
                code = compile(source, name, "exec")
                exec(code, self.test_symbols(), None)
            except Exception as error:
                outcome = ScriptOutcome(
                    passed=False,
                    error_type=type(error).__name__,
                    error_message=str(error),
                    traceback_lines=script_traceback(error, name),
                )
                for line in outcome.traceback_lines:
                    self.logger.log_test_error(line)
                self._attach_failure(outcome)
            else:
                outcome = ScriptOutcome(passed=True)
        outcome.duration = time.monotonic() - started
        return outcome

    def _attach_failure(self, outcome: ScriptOutcome) -> None:
        detail = "\n".join(outcome.traceback_lines)
        for record in self.logger.subtests:
            if record.failed and not record.failure_detail:
                record.failure_detail = detail


def script_traceback(error: BaseException, filename: str) -> list[str]:
    """The traceback of ``error`` keeping only frames of the test script itself."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)]
    own = [frame for frame in frames if frame.filename == filename]
    lines = ["Traceback (most recent call last):"]
    for entry in traceback.format_list(own or frames):
        lines.extend(entry.rstrip("\n").splitlines())
    lines.append("")
    lines.extend(f"{type(error).__name__}: {error}".splitlines())
    return lines
