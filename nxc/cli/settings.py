"""Global options shared by every command (set by the top-level callback)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Settings:
    """What the global options said: where the project is, how chatty to be."""

    envdir: Path | None = None
    verbose: int = 0
    debug: bool = False
