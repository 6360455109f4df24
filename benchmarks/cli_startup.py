"""Start-up time of ``nxc --help`` against ``python -c pass`` and NixOS-Compose 0.7.11.

NixOS-Compose is installed from the package index into a throw-away virtual environment (or one
given with ``--nixos-compose-venv``), then the three commands run in turn, ``--runs`` times
each after one warm-up run, and the medians are printed as a table with ratios.

    python benchmarks/cli_startup.py [--runs 21] [--nixos-compose-venv DIR | --no-nixos-compose]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

NIXOS_COMPOSE = "nixos-compose==0.7.11"


def nxc_command() -> list[str]:
    """This environment's ``nxc`` console script (not a shell shim), else ``python -m nxc``."""
    script = Path(sys.executable).parent / "nxc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "nxc"]


def install_nixos_compose(folder: Path) -> Path:
    """Create a venv in ``folder`` holding NixOS-Compose; return its ``nxc`` script."""
    script = folder / "bin" / "nxc"
    if script.exists():
        return script
    print(f"installing {NIXOS_COMPOSE} into {folder} ...", file=sys.stderr)
    venv.create(folder, with_pip=True)
    subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", NIXOS_COMPOSE],
        check=True,
        timeout=900,
    )
    return script


def wall_time(command: list[str]) -> float:
    """Seconds one run of ``command`` takes; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=120)
    return time.perf_counter() - start


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time per command, runs interleaved so that drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():
        wall_time(command)
    for _ in range(runs):
        for name, command in commands.items():
            samples[name].append(wall_time(command))
    return {name: statistics.median(times) for name, times in samples.items()}


def table(medians: dict[str, float], baseline: str, reference: str | None) -> str:
    """The results as a plain-text table with ratios to the baseline and the reference."""
    header = ["command", "median ms", f"x {baseline}"]
    if reference:
        header.append(f"x {reference}")
    rows = [header]
    for name, seconds in medians.items():
        row = [name, f"{seconds * 1000:.1f}", f"{seconds / medians[baseline]:.2f}"]
        if reference:
            row.append(f"{seconds / medians[reference]:.2f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs per command")
    parser.add_argument("--nixos-compose-venv", type=Path, help="reuse (or create) this venv")
    parser.add_argument("--no-nixos-compose", action="store_true", help="skip NixOS-Compose")
    args = parser.parse_args()

    baseline = "python -c pass"
    commands = {baseline: [sys.executable, "-c", "pass"], "nxc --help": [*nxc_command(), "--help"]}
    reference = None
    with tempfile.TemporaryDirectory(prefix="nxc-bench-") as scratch:
        if not args.no_nixos_compose:
            folder = args.nixos_compose_venv or Path(scratch) / "venv"
            reference = f"NixOS-Compose {NIXOS_COMPOSE.split('==')[1]} nxc --help"
            commands[reference] = [str(install_nixos_compose(folder)), "--help"]
        medians = measure(commands, args.runs)
    print(f"median of {args.runs} runs each ({sys.version.split()[0]}, {sys.executable})")
    print(table(medians, baseline, reference))


if __name__ == "__main__":
    main()
