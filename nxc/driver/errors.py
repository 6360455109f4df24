"""Errors a test script can meet, rooted in :class:`nxc.errors.NxcError`.

They mirror the NixOS test driver's own classes so that scripts catching them by name keep
working: ``RequestedAssertionFailed`` for a failed ``succeed``/``fail``/``t.assert*`` or an
expired wait, ``MachineError`` for a node the driver cannot use (unreachable, stopped), and its
``NodeUnusableError`` for one no wait can bring back (dead, or presenting another host key).
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


class NodeUnusableError(MachineError):
    """A node that waiting cannot bring back: its machine is gone, or it presented a host key
    other than the pinned one. ``wait_*`` calls raise it at once instead of waiting it out."""


class PollingConditionError(TestScriptError):
    """A ``polling_condition`` stopped holding while the script ran."""
