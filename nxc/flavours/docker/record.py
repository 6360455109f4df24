"""What the docker flavour keeps in a deployment record, as typed sections.

``resources`` (:class:`DockerResources`): the engine, the marker, the subnet, the network, the
id of every container as soon as it exists, the folders and the compose file. Each node's
``extra`` (:class:`DockerNodeFacts`): its container's name, then its id. ``stop`` removes what
these name (checked to carry the deployment's labels) and what carries the marker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from nxc.record_section import CommonResources, Section


@dataclass
class DockerNetwork(Section):
    """The deployment's bridge network: named at allocation, its id once created."""

    name: str | None = None
    id: str | None = None


@dataclass
class DockerResources(CommonResources):
    """A docker deployment's ``resources``."""

    engine: str | None = None
    """The URL of the engine the deployment was started on (stop and the transport use it)."""
    subnet: int | None = None
    """``S`` of the deployment's ``10.S.0.0/16``."""
    network: DockerNetwork = field(default_factory=DockerNetwork)
    containers: dict[str, str] = field(default_factory=dict)
    """Hostname → container id, recorded as each container is created."""
    volumes: list[str] = field(default_factory=list)
    """Names of volumes to remove with the deployment (besides those carrying the marker)."""
    compose_file: Path | None = None
    """The deployment's ``docker-compose.yml`` (beside the record)."""
    log_dir: Path | None = None
    """Where the containers' logs are saved."""


@dataclass
class DockerNodeFacts(Section):
    """A docker node's ``extra``: its container."""

    container_name: str | None = None
    container_id: str | None = None
    """Recorded as soon as the container is created."""


@dataclass
class SubnetInUse(Section):
    """The one key read from another deployment's ``resources``, of any flavour: the
    ``10.S.0.0/16`` it uses, if it names one (an integer)."""

    reads_every_format: ClassVar[bool] = True

    subnet: Any = None

    @property
    def octet(self) -> int | None:
        """``S``, or None if the record names no subnet as an integer."""
        return self.subnet if isinstance(self.subnet, int) else None
