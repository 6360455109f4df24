"""A role's published ports and extra volumes (NixOS-Compose's ``dockerPorts.<role>`` and
``extraVolumes``), in docker-compose's short syntax, checked and turned into engine arguments.

Ports: ``"CONTAINER"``, ``"HOST:CONTAINER"`` or ``"IP:HOST:CONTAINER"``, each port optionally
``/tcp`` or ``/udp``. Volumes: ``"SOURCE:TARGET[:ro|:rw]"``, SOURCE an absolute host path (a bind
mount) or a volume name (a named volume of the engine, created by it on first use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nxc.errors import ManifestError

_PORT = re.compile(
    r"(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?:(?P<host>\d{1,5}):)?(?P<port>\d{1,5})(?:/(?P<proto>tcp|udp))?"
)
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


@dataclass(frozen=True)
class PublishedPort:
    """One container port, published on the host when ``host_port`` is set."""

    container_port: str
    """``PORT/PROTO``, as the engine names it."""
    host_ip: str = ""
    host_port: int | None = None


@dataclass(frozen=True)
class ExtraVolume:
    """One extra mount of every container of the deployment."""

    source: str
    target: str
    read_only: bool
    kind: str
    """``bind`` (``source`` is a host path) or ``volume`` (``source`` names an engine volume)."""


def parse_port(spec: object, where: str) -> PublishedPort:
    """``spec`` in docker-compose's short port syntax; :class:`ManifestError` if it is not."""
    match = _PORT.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        raise ManifestError(
            f"{where}: port {spec!r} is not CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER "
            '(e.g. "8080:80"); fix dockerPorts in the composition'
        )
    ports = [int(p) for p in (match["host"], match["port"]) if p is not None]
    if not all(1 <= p <= 65535 for p in ports):
        raise ManifestError(f"{where}: port {spec!r} is out of range 1-65535; fix dockerPorts")
    return PublishedPort(
        container_port=f"{match['port']}/{match['proto'] or 'tcp'}",
        host_ip=match["ip"] or "",
        host_port=int(match["host"]) if match["host"] else None,
    )


def parse_volume(spec: object, where: str) -> ExtraVolume:
    """``spec`` as ``SOURCE:TARGET[:ro|:rw]``; :class:`ManifestError` if it is not."""
    parts = spec.split(":") if isinstance(spec, str) else []
    mode = parts.pop() if len(parts) == 3 else "rw"
    usable = (
        len(parts) == 2
        and mode in ("ro", "rw")
        and parts[1].startswith("/")
        and (parts[0].startswith("/") or _VOLUME_NAME.fullmatch(parts[0]) is not None)
    )
    if not usable:
        raise ManifestError(
            f"{where}: volume {spec!r} is not SOURCE:TARGET[:ro|:rw] with an absolute TARGET and "
            "a host path or volume name as SOURCE; fix extraVolumes in the composition"
        )
    source, target = parts
    return ExtraVolume(
        source=source,
        target=target,
        read_only=mode == "ro",
        kind="bind" if source.startswith("/") else "volume",
    )


def check_host_ports(published: dict[str, tuple[PublishedPort, ...]]) -> None:
    """Refuse two nodes publishing the same host port (node hostname -> its ports)."""
    owners: dict[tuple[str, int, str], str] = {}
    for hostname, ports in published.items():
        for port in ports:
            if port.host_port is None:
                continue
            key = (port.host_ip, port.host_port, port.container_port.split("/")[1])
            if key in owners:
                raise ManifestError(
                    f"dockerPorts: {owners[key]} and {hostname} both publish host port "
                    f"{port.host_port}; start one node of that role, or publish the container "
                    'port alone ("80") and let the engine choose the host port'
                )
            owners[key] = hostname
