"""The interactive driver: a Python prompt holding the test-script symbols."""

from __future__ import annotations

import code
import sys
from typing import Any


def banner(symbols: dict[str, Any]) -> str:
    """What the prompt says when it opens: the machines and the other names at hand."""
    from nxc.driver.machine import Machine

    machines = sorted(name for name, value in symbols.items() if isinstance(value, Machine))
    others = sorted(name for name, value in symbols.items() if not isinstance(value, Machine))
    return (
        "nxc driver: the test-script symbols are at hand (Ctrl-D leaves).\n"
        f"  machines: {', '.join(machines) or '(none)'}\n"
        f"  also: {', '.join(others)}"
    )


def run_repl(symbols: dict[str, Any]) -> None:
    """Open ptpython when it is installed and this is a terminal, else Python's own console."""
    text = banner(symbols)
    if sys.stdin.isatty():
        try:
            from ptpython.repl import embed
        except ImportError:
            pass
        else:
            print(text, file=sys.stderr)
            embed(globals=symbols, locals=symbols)
            return
    code.InteractiveConsole(locals=symbols).interact(banner=text, exitmsg="")
