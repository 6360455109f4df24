"""The deployment info every node receives, built in one place for every flavour.

The document is the node contract's (docs/node-contract.md): the deployment's name, the
client key the nodes authorise, every node (hostname, role, address, and its MAC and role
system when known), and what the flavour adds (the network's prefix length, how to mount the
shared folder). Two parts come from the deployment itself, the same on every flavour:

- ``parameters``: the deployment parameters (``nxc start -p KEY=VALUE``), when there are any;
- ``root_ssh_key`` and each node's ``host_public_key``: when a role of the composition enables
  ``nxc.root-sshKeys``, the deployment's root key pair (kept beside the client key, so a
  deployment started again keeps it), for the nodes to reach each other as root.

An info holding the root key holds a private key: :func:`holds_secret` says so, and a flavour
must then deliver it through a private channel only (a 0600 file, fw_cfg). A flavour whose
nodes fetch the info by URL asks for ``root_key_by_url``: the info then names the key only
(``"fetch": "root_key"``) and the flavour arms the private key on its info server, which hands
it to each node once, to its address, as it does host keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc import keys

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore
    from nxc.manifest import Manifest

INFO_VERSION = 1
ROOT_KEY_FILE = "root_key"
"""The deployment's root key pair, in its private folder (``root_key`` and ``root_key.pub``)."""


@dataclass(frozen=True)
class InfoExtras:
    """What a flavour adds to the info: the network's prefix length, the shared folder."""

    prefix_length: int | None = None
    shared_dir: dict[str, str] = field(default_factory=dict)
    with_macs: bool = True
    """Whether nodes find their entry by MAC (vm: nxc chose the MACs) as well as by address."""
    systems: dict[str, str] | None = None
    """Role → system path, when the flavour's differ from the manifest roles' (docker)."""
    more: dict[str, Any] = field(default_factory=dict)
    """Keys of the flavour's own, added last (g5k-nfs-store: where the store is)."""
    root_key_by_url: bool = False
    """The info goes by a URL any user of a node can read: the root key's private half stays
    out of it (``"fetch": "root_key"``), and the flavour arms it on its info server."""


def root_key_path(store: DeploymentStore, name: str) -> Path:
    """Where deployment ``name`` keeps its root key pair."""
    return store.secret_dir(name) / ROOT_KEY_FILE


def build_info(
    deployment: Deployment,
    store: DeploymentStore,
    manifest: Manifest,
    extras: InfoExtras | None = None,
) -> dict[str, Any]:
    """The deployment info of ``deployment`` (its nodes placed: addresses and host keys set).

    Makes the deployment's client key (and its root key when the composition wants one) if
    they do not exist yet.
    """
    extras = extras or InfoExtras()
    name = deployment.name
    entry = manifest.composition(deployment.composition)
    systems = (
        extras.systems
        if extras.systems is not None
        else {role.name: role.system for role in entry.roles}
    )
    root_key = deployment_root_key(deployment, store, manifest)
    client_key = keys.ensure_client_key(store.client_key_path(name), f"nxc:{name}")
    nodes = []
    for node in deployment.nodes:
        item: dict[str, Any] = {
            "hostname": node.hostname,
            "role": node.role,
            "address": node.address,
        }
        if extras.with_macs and node.mac:
            item["mac"] = node.mac
        if systems.get(node.role):
            item["system"] = systems[node.role]
        if root_key is not None and node.host_key:
            item["host_public_key"] = node.host_key
        nodes.append(item)
    info: dict[str, Any] = {"version": INFO_VERSION, "deployment": name}
    if extras.prefix_length is not None:
        info["network"] = {"prefix_length": extras.prefix_length}
    info["authorized_keys"] = [client_key]
    info["nodes"] = nodes
    if extras.shared_dir:
        info["shared_dir"] = dict(extras.shared_dir)
    if deployment.parameters:
        info["parameters"] = dict(deployment.parameters)
    if root_key is not None and extras.root_key_by_url:
        info["root_ssh_key"] = {"public": root_key.public_line, "fetch": "root_key"}
    elif root_key is not None:
        info |= keys.root_key_info(root_key)
    return info | extras.more


def deployment_root_key(
    deployment: Deployment, store: DeploymentStore, manifest: Manifest
) -> keys.KeyPair | None:
    """The deployment's root key pair (made the first time) when a role of its composition
    enables ``nxc.root-sshKeys``, else None."""
    if not manifest.composition(deployment.composition).wants_root_ssh_key:
        return None
    name = deployment.name
    return keys.ensure_keypair(root_key_path(store, name), f"nxc:{name}:root")


def holds_secret(info: dict[str, Any]) -> bool:
    """Whether ``info`` holds a private key (the root key): it must travel privately."""
    return "private" in info.get("root_ssh_key", {})
