"""One VDE switch per deployment: the nodes' shared L2 segment, without root or a bridge."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from nxc.errors import ExternalCommandError

VDE_SWITCH = "vde_switch"
VDE_PACKAGE = "vde2"
SPARE_PORTS = 64
"""Ports beyond the nodes started: room for the nodes ``nxc start --add`` adds later."""


def switch_ports(nodes: int) -> int:
    """How many ports the switch of a deployment of ``nodes`` nodes has."""
    return nodes + SPARE_PORTS


def switch_command(vde_switch: str, switch_dir: Path, pidfile: Path, nodes: int) -> list[str]:
    """Arguments starting a daemonised switch with a port for each node (and some spare)."""
    return [
        vde_switch,
        "--sock", str(switch_dir),
        "--numports", str(switch_ports(nodes)),
        "--daemon",
        "--pidfile", str(pidfile),
    ]  # fmt: skip


def start_switch(
    vde_switch: str, switch_dir: Path, pidfile: Path, nodes: int, timeout: float = 10.0
) -> int:
    """Start the switch, wait until its control socket exists, and return its pid.

    ``switch_dir`` must contain the deployment's marker so the process can be recognised.
    """
    argv = switch_command(vde_switch, switch_dir, pidfile, nodes)
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise ExternalCommandError(
            f"vde_switch failed to start on {switch_dir}: "
            f"{(result.stderr or result.stdout).strip()}"
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text.isdigit() and (switch_dir / "ctl").exists():
            return int(text)
        time.sleep(0.05)
    raise ExternalCommandError(
        f"vde_switch did not create {switch_dir / 'ctl'} and {pidfile} within {timeout:.0f} s"
    )
