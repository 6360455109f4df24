"""Errors a test script can meet, rooted in :class:`nxc.errors.NxcError`.

They mirror the NixOS test driver's own classes so that scripts catching them by name keep
working: ``RequestedAssertionFailed`` for a failed ``succeed``/``fail``/``t.assert*`` or an
expired wait, ``MachineError`` for a node the driver cannot use (unreachable, stopped).
"""

from __future__ import annotations

from nxc.errors import NxcError


class TestScriptError(NxcError):
    """The test script failed; only its own stack frames are worth showing."""

    __test__ = False  # not a pytest test class despite the name


class RequestedAssertionFailed(TestScriptError):
    """An assertion the script asked for did not hold (command status, wait, ``t.assert*``)."""


class MachineError(TestScriptError):
    """A node could not be used: unreachable, not running, or an operation it cannot do."""


class PollingConditionError(TestScriptError):
    """A ``polling_condition`` stopped holding while the script ran."""
