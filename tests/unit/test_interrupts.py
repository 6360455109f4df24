"""Ending signals as one exception, and cleanup blocks they cannot cut short.

Real signals sent by the test to its own process, through the CLI's own handlers.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from nxc.cli import ENDING_SIGNALS, install_signal_handlers
from nxc.interrupts import Interrupted, exit_code, shielded, signal_name


@pytest.fixture
def cli_handlers() -> Iterator[None]:
    """The CLI's handlers, the test process's own put back afterwards."""
    saved = {signum: signal.getsignal(signum) for signum in ENDING_SIGNALS}
    install_signal_handlers()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_each_ending_signal_is_an_interrupt(cli_handlers, signum: int) -> None:
    after = []
    with pytest.raises(KeyboardInterrupt) as caught:
        os.kill(os.getpid(), signum)
        after.append("not reached")
    assert after == []
    assert signal_name(caught.value) == signal.Signals(signum).name
    assert exit_code(caught.value) == 128 + signum


def test_a_signal_during_a_shielded_block_comes_after_it(cli_handlers, capfd) -> None:
    finished = []
    with pytest.raises(Interrupted) as caught, shielded():
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        finished.append("cleanup done")
    assert finished == ["cleanup done"]
    assert caught.value.signum == signal.SIGHUP  # the last one noted
    assert "finishing the cleanup under way first" in capfd.readouterr().err


def test_a_block_failing_keeps_its_own_exception(cli_handlers) -> None:
    with pytest.raises(ValueError, match="cleanup failed"), shielded():
        os.kill(os.getpid(), signal.SIGTERM)
        raise ValueError("cleanup failed")
    with shielded():  # the signal noted above does not come back later
        pass


def test_nested_blocks_deliver_once_the_outermost_ends(cli_handlers) -> None:
    steps = []
    with pytest.raises(Interrupted), shielded():
        with shielded():
            os.kill(os.getpid(), signal.SIGINT)
        steps.append("inner ended")
    assert steps == ["inner ended"]


def test_an_ignored_sighup_stays_ignored(cli_handlers) -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    install_signal_handlers()
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    install_signal_handlers(force=True)
    assert signal.getsignal(signal.SIGHUP) != signal.SIG_IGN
