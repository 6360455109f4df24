"""Which command modules exist, in the order ``nxc --help`` lists them.

Each module ``nxc.cli.<name>`` defines ``register(app: typer.Typer) -> None``. Add a name here
only once its command does real work.
"""

from __future__ import annotations

import importlib

import typer

COMMAND_MODULES: list[str] = [
    "start",
    "status",
    "export",
    "clean",
    "build",
    "check",
    "init",
    "stop",
    "driver",
    "run",
    "connect",
    "bench",
    "helper",
]


def register_all(app: typer.Typer) -> None:
    """Import every command module and let it add its command(s) to ``app``."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"nxc.cli.{name}").register(app)
