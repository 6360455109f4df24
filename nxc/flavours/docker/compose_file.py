"""The ``docker-compose.yml`` a docker deployment leaves in its state folder.

It describes the same containers as ``nxc start`` creates (image, command, hostname, address,
labels, mounts, privileges, stop signal) in the Compose Specification format, so users can run
the deployment with ``docker compose -f deploy/<name>.d/docker-compose.yml up`` themselves,
*instead of* ``nxc start`` (not beside it: both would claim the same addresses). The files it
mounts (deployment info, host keys, shared folder) stay in the state folder until
``nxc clean``. ``cgroup: private`` needs Docker Compose v2 (``docker compose``); the old
Python ``docker-compose`` 1.x does not know that key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nxc.atomic import write_atomic
from nxc.flavours.docker.containers import RUN_TMPFS, NodeContainer, safe_name
from nxc.flavours.docker.publish import PublishedPort

NETWORK_KEY = "nxc"

HEADER = """\
# Written by nxc for deployment {deployment}: the same containers as 'nxc start' creates.
# Run it yourself instead of nxc (not beside it): docker compose -f {path} up -d
# Needs Docker Compose v2 and the files under {state_dir} (kept until 'nxc clean').
"""


def compose_document(
    deployment: str, specs: Sequence[NodeContainer], subnet: str, gateway: str
) -> dict[str, Any]:
    """The Compose document (a plain dict) for ``specs`` on the network ``subnet``."""
    services = {}
    for spec in specs:
        rc = spec.role_container
        service: dict[str, Any] = {
            "image": rc.image,
            "hostname": spec.hostname,
            "labels": dict(spec.labels),
            "tty": True,
            "privileged": rc.privileged,
            "cgroup": "private",
            "stop_signal": rc.stop_signal,
            "tmpfs": [f"/run:{RUN_TMPFS}"],
            "volumes": [
                {"type": "bind", "source": host, "target": target, "read_only": read_only}
                for host, target, read_only in spec.binds
            ],
            "networks": {NETWORK_KEY: {"ipv4_address": spec.address}},
        }
        service["volumes"] += [
            {"type": v.kind, "source": v.source, "target": v.target, "read_only": v.read_only}
            for v in rc.volumes
        ]
        if rc.ports:
            service["ports"] = [_short_port(port) for port in rc.ports]
        if rc.command:
            service["command"] = list(rc.command)
        if rc.environment:
            service["environment"] = dict(rc.environment)
        services[spec.hostname] = service
    return {
        "name": safe_name(deployment).lower().replace(".", "-"),
        "services": services,
        "networks": {
            NETWORK_KEY: {
                "driver": "bridge",
                "ipam": {"config": [{"subnet": subnet, "gateway": gateway}]},
            }
        },
    }


def _short_port(port: PublishedPort) -> str:
    """``[IP:]HOST:PORT/PROTO``, or ``PORT/PROTO`` when the engine chooses the host port."""
    if port.host_port is None:
        return port.container_port
    host = f"{port.host_ip}:{port.host_port}" if port.host_ip else str(port.host_port)
    return f"{host}:{port.container_port}"


def write_compose_file(
    path: Path, deployment: str, specs: Sequence[NodeContainer], subnet: str, gateway: str
) -> None:
    """Write the deployment's ``docker-compose.yml`` atomically."""
    import yaml

    document = compose_document(deployment, specs, subnet, gateway)
    header = HEADER.format(deployment=deployment, path=path, state_dir=path.parent)
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    write_atomic(path, header + body)


def drop_services(path: Path, deployment: str, hostnames: Iterable[str]) -> None:
    """Rewrite the deployment's ``docker-compose.yml`` without the services of ``hostnames``
    (nodes removed while it runs); nothing when the file is not there."""
    import yaml

    if not path.is_file():
        return
    document = yaml.safe_load(path.read_text()) or {}
    services = document.get("services") or {}
    for hostname in hostnames:
        services.pop(hostname, None)
    header = HEADER.format(deployment=deployment, path=path, state_dir=path.parent)
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    write_atomic(path, header + body)
