"""Ending signals (SIGINT, SIGTERM, SIGHUP) as one exception, and cleanup they cannot cut short.

The CLI routes the three signals to :func:`deliver`: outside a :func:`shielded` block it raises
:class:`Interrupted` (a :class:`KeyboardInterrupt`, so every ``except KeyboardInterrupt`` and
``finally`` that cleans up after Ctrl-C does the same after ``timeout``'s SIGTERM or a closed
terminal's SIGHUP). Inside a shielded block — stopping what a start launched, a stop under way —
signals are only noted: a second Ctrl-C cannot leave half the nodes running and the record
saying ``running``. Only SIGKILL can, and ``nxc stop`` cleans up after that.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    """An ending signal arrived; ``signum`` says which (SIGINT for a plain Ctrl-C)."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's code for a command ended by this signal (128 + signal number)."""
        return 128 + int(self.signum)


_shield_depth = 0
_pending: int | None = None


def deliver(signum: int) -> bool:
    """Raise :class:`Interrupted` for ``signum``, or note it and return False while shielded."""
    global _pending
    if _shield_depth > 0:
        _pending = signum
        return False
    raise Interrupted(signum)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Run the block to its end even if ending signals arrive (main thread, where they land).

    A signal noted meanwhile is raised once the outermost block ends normally; if the block
    ends with an exception (often the interrupt that started the cleanup), that one goes on.
    """
    global _shield_depth, _pending
    _shield_depth += 1
    try:
        yield
    except BaseException:
        _shield_depth -= 1
        if _shield_depth == 0:
            _pending = None
        raise
    _shield_depth -= 1
    if _shield_depth == 0 and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


def signal_name(error: KeyboardInterrupt) -> str:
    """``SIGTERM``, ``SIGHUP``... for an :class:`Interrupted`, ``SIGINT`` for a plain Ctrl-C."""
    signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
    return signal.Signals(signum).name


def exit_code(error: KeyboardInterrupt) -> int:
    """128 + the signal number (130 for a plain Ctrl-C)."""
    return error.exit_code if isinstance(error, Interrupted) else 128 + signal.SIGINT
