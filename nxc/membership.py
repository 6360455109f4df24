"""Telling running nodes that the deployment's nodes changed (nodes added or removed).

Each node learns its deployment's nodes from the deployment info at boot. When nodes join or
leave a running deployment, every node that stays gets the new list: the file
:data:`UPDATE_PATH` (the info's ``nodes``), then ``nxc-hosts-update`` on it, which rewrites the
node's ``/run/nxc/info.json``, ``/etc/hosts`` and NixOS-Compose's ``/etc/nxc`` files and starts
``nxc-hosts-changed.service`` for the units a composition hooks there
(``nxc/nix/modules/hosts-update.sh``, docs/elastic.md).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nxc.transport.base import Transport

UPDATE_COMMAND = "nxc-hosts-update"
"""The node program that applies a new nodes list (on PATH: NixOS' system, the test bed)."""
UPDATE_PATH = "/etc/nxc/nodes.update.json"
"""Where the new nodes list is copied on each node: a root-only folder every node has (not
``/tmp``, anyone's; not ``/run``, a container's tmpfs, which the engine cannot copy into)."""
ANNOUNCE_TIMEOUT = 60.0
"""How long each node has to take the new list."""


@dataclass(frozen=True)
class Announcement:
    """How telling the nodes went."""

    seconds: float
    """From the first copy to the last node done."""
    told: tuple[str, ...] = ()
    """The nodes that apply the new list."""
    failed: Mapping[str, str] = field(default_factory=dict)
    """Hostname → why, for the nodes that could not be told."""


def nodes_document(info: Mapping[str, Any]) -> dict[str, Any]:
    """What the nodes get: the deployment info's ``nodes`` (no key, no parameter)."""
    return {"deployment": info.get("deployment", ""), "nodes": list(info["nodes"])}


def announce(
    transport: Transport,
    hostnames: Iterable[str],
    info: Mapping[str, Any],
    timeout: float = ANNOUNCE_TIMEOUT,
) -> Announcement:
    """Give the nodes ``hostnames`` the nodes list of ``info`` and let them apply it, all at
    once; the nodes that failed are in the result, never raised."""
    hosts = list(hostnames)
    began = time.monotonic()
    if not hosts:
        return Announcement(0.0)
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="nxc-hosts-") as folder:
        document = Path(folder) / "nodes.json"
        document.write_text(json.dumps(nodes_document(info)))
        copied = transport.put(document, UPDATE_PATH, hosts, timeout=timeout)
    for host in hosts:
        if not copied[host].ok:
            failed[host] = f"copy of the nodes list failed: {copied[host].describe_failure()}"
    remaining = [host for host in hosts if host not in failed]
    if remaining:
        applied = transport.run([UPDATE_COMMAND, UPDATE_PATH], remaining, timeout=timeout)
        for host in remaining:
            if not applied[host].ok:
                failed[host] = f"{UPDATE_COMMAND} failed: {applied[host].describe_failure()}"
    told = tuple(host for host in hosts if host not in failed)
    return Announcement(time.monotonic() - began, told, failed)
