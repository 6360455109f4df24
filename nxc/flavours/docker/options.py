"""The docker flavour's options: the start timeout and the engine."""

from __future__ import annotations

from dataclasses import dataclass

from nxc.errors import InputError
from nxc.flavours.options import FlavourOptions


@dataclass(frozen=True)
class DockerOptions(FlavourOptions):
    """What ``nxc start -f docker`` and ``nxc.start(..., flavour="docker")`` may set."""

    engine: str | None = None
    """The Docker engine's URL (``unix://...``, ``tcp://...``); None: ``DOCKER_HOST``, else
    the local engine's socket (see :func:`nxc.flavours.docker.engine.engine_url`)."""

    def __post_init__(self) -> None:
        if isinstance(self.timeout, int | float) and self.timeout <= 0:
            raise InputError.naming(
                f"{{timeout}} {self.timeout:g} must be more than 0 seconds", "timeout"
            )
        super().__post_init__()
