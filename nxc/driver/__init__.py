"""The test driver: NixOS-test-compatible ``Machine`` objects over a started deployment.

``nxc driver`` (see :mod:`nxc.cli.driver`) and ``nxc start -t/-I`` use :func:`run_session`;
experiment scripts can build a driver themselves with :func:`open_driver`.
"""

from __future__ import annotations

from nxc.driver.deployment_backend import open_driver
from nxc.driver.driver import Driver, ScriptOutcome
from nxc.driver.logger import DriverLogger
from nxc.driver.machine import Machine
from nxc.driver.session import TestScript, run_session
from nxc.errors import (
    MachineError,
    NodeUnusableError,
    RequestedAssertionFailed,
    TestScriptError,
)

__all__ = [
    "Driver",
    "DriverLogger",
    "Machine",
    "MachineError",
    "NodeUnusableError",
    "RequestedAssertionFailed",
    "ScriptOutcome",
    "TestScript",
    "TestScriptError",
    "open_driver",
    "run_session",
]
