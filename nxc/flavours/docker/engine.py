"""Talking to the Docker engine: where it is, connecting with clear errors, nxc's labels.

Everything goes through the engine's HTTP API (the Docker SDK for Python's low-level
``APIClient``), never through ``docker`` CLI output. The engine is ``DOCKER_HOST`` when set,
else the local socket; a deployment records the engine it was started on, so ``stop``,
``status`` and the transport reach the same one later.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nxc.errors import ExternalCommandError, InputError

if TYPE_CHECKING:
    import docker

DEFAULT_ENGINE = "unix:///var/run/docker.sock"
API_TIMEOUT = 120
"""Seconds one API call may take (image imports and container removal on vfs are slow)."""

LABEL_DEPLOYMENT = "nxc.deployment"
LABEL_NODE = "nxc.node"
LABEL_ROLE = "nxc.role"
LABEL_MARKER = "nxc.marker"
"""Every container, network and volume nxc creates carries these labels; the marker is unique
to one ``nxc start`` and recorded before anything is created."""

START_HINT = (
    "start it ('systemctl start docker', or as root: 'dockerd &'), or point DOCKER_HOST at a "
    "running engine (e.g. DOCKER_HOST=unix:///run/user/1000/docker.sock)"
)


def engine_url(explicit: str | None = None) -> str:
    """The engine to use: ``explicit``, else ``$DOCKER_HOST``, else the local socket."""
    return explicit or os.environ.get("DOCKER_HOST") or DEFAULT_ENGINE


def is_local(url: str) -> bool:
    """Whether the engine runs on this machine (its bridge networks are routed here)."""
    return url.startswith(("unix://", "/")) or "://localhost" in url or "://127.0.0.1" in url


def connect(url: str) -> docker.APIClient:
    """A client of the engine at ``url``; :class:`InputError` saying how to start it if it
    does not answer."""
    import docker

    try:
        return docker.APIClient(base_url=url, version="auto", timeout=API_TIMEOUT)
    except docker.errors.DockerException as error:
        raise InputError(
            f"the Docker engine at {url} does not answer ({_short(error)}); {START_HINT}"
        ) from None


def _short(error: BaseException) -> str:
    text = str(error)
    for needle in ("No such file or directory", "Connection refused", "Permission denied"):
        if needle in text:
            return needle.lower()
    return text.splitlines()[0][:200] if text else type(error).__name__


@contextlib.contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Turn the SDK's errors inside the block into nxc errors saying what was being done."""
    import docker
    import requests

    try:
        yield
    except docker.errors.APIError as error:
        reason = error.explanation or str(error)
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise ExternalCommandError(f"the Docker engine refused to {what}: {reason}") from None
    except (requests.exceptions.ConnectionError, docker.errors.DockerException) as error:
        raise InputError(
            f"lost the Docker engine while trying to {what} ({_short(error)}); {START_HINT}"
        ) from None


def labels_filter(marker: str) -> dict[str, Any]:
    """The API filter selecting what one ``nxc start`` created."""
    return {"label": [f"{LABEL_MARKER}={marker}"]}
