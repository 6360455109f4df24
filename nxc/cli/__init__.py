"""Command-line interface: the only place that prints to the user or exits."""

from __future__ import annotations

import os
import signal
import sys
import traceback

from nxc import interrupts
from nxc.cli.flags import FLAGS
from nxc.errors import NxcError

ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def main(argv: list[str] | None = None) -> None:
    """Run the ``nxc`` command; map :class:`NxcError` to one line and an exit code."""
    install_signal_handlers()
    from nxc.cli.app import app, settings

    try:
        try:
            app(args=argv, prog_name="nxc")
        except SystemExit as exiting:
            interrupt = _interrupt_behind(exiting)
            if interrupt is None:
                raise
            raise interrupt from None
    except NxcError as error:
        if settings.debug:
            traceback.print_exc()
        print(f"nxc: error: {error.render(FLAGS)}", file=sys.stderr)
        sys.exit(error.exit_code)
    except OSError as error:
        if settings.debug:
            traceback.print_exc()
        where = f" ({error.filename})" if error.filename else ""
        print(
            f"nxc: error: {error.strerror or error}{where}; rerun with --debug for details",
            file=sys.stderr,
        )
        sys.exit(1)
    except KeyboardInterrupt as error:
        if settings.debug:
            traceback.print_exc()
        notes = "".join(f"; {note}" for note in getattr(error, "__notes__", []))
        print(f"nxc: interrupted ({interrupts.signal_name(error)}){notes}", file=sys.stderr)
        sys.exit(interrupts.exit_code(error))


def _interrupt_behind(exiting: SystemExit) -> KeyboardInterrupt | None:
    """The interrupt that Typer turned into a silent exit 130, if that is what this exit is."""
    seen: BaseException | None = exiting
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def install_signal_handlers(force: bool = False) -> None:
    """Make SIGINT, SIGTERM and SIGHUP end nxc the same way (see :mod:`nxc.interrupts`).

    A signal the caller ignores (``nohup``, a background job's SIGINT) stays ignored unless
    ``force`` (``nxc start --foreground`` must stop on Ctrl-C wherever it runs).
    """
    for signum in ENDING_SIGNALS:
        if force or signum == signal.SIGTERM or signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: object) -> None:
    if not interrupts.deliver(signum):
        name = signal.Signals(signum).name
        os.write(2, f"nxc: {name}: finishing the cleanup under way first\n".encode())
