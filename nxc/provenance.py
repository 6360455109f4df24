"""Provenance: where a deployment's software and hosts came from, for a paper's artefact appendix.

:func:`collect` gathers, as a plain JSON-ready dict (versioned by ``nxc_provenance``):

- the nxc version;
- the nixpkgs the project's ``flake.lock`` pins for the root input ``nixpkgs`` (locked revision,
  ``narHash``, ``lastModified``), ``follows`` paths resolved (:func:`locked_nixpkgs`);
- the build manifest's store paths: each composition's role systems, kernel, initrd, image and
  kernel command line;
- the extra kernel parameters the caller passed to the flavour;
- the platform: OAR job ids and hosts from the record's resources, each node's host, and the
  hosts' OAR properties when the caller has them (nothing here asks OAR).

:func:`render_markdown` turns it into a Markdown section. ``nxc export`` writes either; ``nxc
start`` journals it as a :class:`~nxc.journal.ProvenanceEvent` (see ``docs/journal.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc.errors import ProjectError

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore
    from nxc.manifest import Manifest

PROVENANCE_FORMAT = 1
LOCK_FILE = "flake.lock"
NIXPKGS_INPUT = "nixpkgs"
_LOCKED_KEYS = ("type", "owner", "repo", "url", "ref", "rev", "narHash", "lastModified")
_MAX_FOLLOWS = 64


def collect(
    project_root: Path,
    deployment: Deployment,
    manifest: Manifest | None = None,
    *,
    kernel_params: Sequence[str] = (),
    host_properties: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The provenance of ``deployment`` of the project at ``project_root``, with the store
    paths of ``manifest`` when given; ``kernel_params`` are the user's extra kernel parameters, ``host_properties``
    host -> its OAR properties, as the caller got them."""
    from nxc import __version__

    lock_path = Path(project_root) / LOCK_FILE
    result: dict[str, Any] = {
        "nxc_provenance": PROVENANCE_FORMAT,
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "nxc_version": __version__,
        "deployment": {
            "name": deployment.name,
            "composition": deployment.composition,
            "flavour": deployment.flavour,
            "tag": deployment.tag,
            "created_at": _iso(deployment.created_at),
        },
        "flake_lock": str(lock_path) if lock_path.is_file() else None,
        "nixpkgs": locked_nixpkgs(lock_path) if lock_path.is_file() else None,
        "manifest": None if manifest is None else _manifest(manifest, deployment.manifest),
        "kernel_params": list(kernel_params),
        "platform": _platform(deployment, host_properties),
    }
    return result


def of_deployment(
    project_root: Path, store: DeploymentStore, name: str
) -> tuple[dict[str, Any], bool]:
    """The provenance of deployment ``name`` and whether it comes from its journal: the newest
    journalled one (what ``nxc start`` saw), else :func:`collect` now from the record, the
    project's ``flake.lock`` and the record's build manifest (if that file is still there)."""
    from nxc import manifest as manifest_module
    from nxc.journal import Journal, ProvenanceEvent

    journalled = Journal(store, name).last(ProvenanceEvent)
    if journalled is not None:
        return journalled.provenance, True
    deployment = store.load(name)
    manifest_path = Path(deployment.manifest) if deployment.manifest else None
    manifest = None
    if manifest_path is not None and manifest_path.exists():
        manifest = manifest_module.load(manifest_path)
    return collect(project_root, deployment, manifest), False


def locked_nixpkgs(lock_path: Path) -> dict[str, Any] | None:
    """What ``lock_path`` (a ``flake.lock``) pins for the root input ``nixpkgs``: the node's
    name, its locked fields (``rev``, ``narHash``, ``lastModified``, source) and the original
    reference; None if the root has no such input. A malformed lock is a
    :class:`~nxc.errors.ProjectError`."""
    try:
        data = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProjectError(f"{lock_path}: cannot read the lock file ({error}); {_RELOCK}") from None
    nodes, root = _lock_graph(data, lock_path)
    reference = nodes[root].get("inputs", {}).get(NIXPKGS_INPUT)
    if reference is None:
        return None
    name = _resolve(nodes, root, reference, lock_path)
    node = nodes[name]
    locked = node.get("locked")
    if not isinstance(locked, Mapping):
        raise ProjectError(f"{lock_path}: node {name!r} has no 'locked' object; {_RELOCK}")
    result: dict[str, Any] = {"input": NIXPKGS_INPUT, "node": name}
    result |= {key: locked[key] for key in _LOCKED_KEYS if key in locked}
    if isinstance(locked.get("lastModified"), int):
        result["lastModifiedDate"] = _iso(locked["lastModified"])
    original = node.get("original")
    if isinstance(original, Mapping):
        result["original"] = dict(original)
    return result


_RELOCK = "regenerate it with 'nix flake lock'"


def _lock_graph(data: object, lock_path: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """The lock's nodes and root node name, checked enough to walk them."""
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), Mapping):
        raise ProjectError(f"{lock_path}: no 'nodes' object; {_RELOCK}")
    nodes = data["nodes"]
    root = data.get("root", "root")
    if not isinstance(root, str) or not isinstance(nodes.get(root), Mapping):
        raise ProjectError(f"{lock_path}: the root node {root!r} is missing; {_RELOCK}")
    for name, node in nodes.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("inputs", {}), Mapping):
            raise ProjectError(f"{lock_path}: node {name!r} is malformed; {_RELOCK}")
    return dict(nodes), root


def _resolve(
    nodes: Mapping[str, Any], root: str, reference: object, lock_path: Path, depth: int = 0
) -> str:
    """The node an input ``reference`` names: a node name, or a ``follows`` path of input
    names walked from the root (each step may itself be a path)."""
    while depth < _MAX_FOLLOWS:
        depth += 1
        if isinstance(reference, str):
            if reference not in nodes:
                raise ProjectError(f"{lock_path}: input names no node {reference!r}; {_RELOCK}")
            return reference
        if not isinstance(reference, list) or not all(isinstance(s, str) for s in reference):
            raise ProjectError(f"{lock_path}: input reference {reference!r} is malformed")
        if not reference:
            return root
        node = root
        for step in reference[:-1]:
            step_reference = _input(nodes, node, step, reference, lock_path)
            node = _resolve(nodes, root, step_reference, lock_path, depth)
        reference = _input(nodes, node, reference[-1], reference, lock_path)
    raise ProjectError(f"{lock_path}: 'follows' paths loop; {_RELOCK}")


def _input(nodes: Mapping[str, Any], node: str, step: str, path: list[str], lock: Path) -> object:
    inputs = nodes[node].get("inputs", {})
    if step not in inputs:
        followed = "/".join(path)
        raise ProjectError(f"{lock}: follows {followed!r}: {node!r} has no input {step!r}")
    return inputs[step]


def _manifest(manifest: Manifest, path: str | None) -> dict[str, Any]:
    compositions = {}
    for composition in manifest.compositions:
        artefacts = composition.artefacts
        entry: dict[str, Any] = {"systems": {role.name: role.system for role in composition.roles}}
        for key in ("kernel", "initrd", "image", "cmdline"):
            if getattr(artefacts, key) is not None:
                entry[key] = getattr(artefacts, key)
        compositions[composition.name] = entry
    return {
        "path": path,
        "flavour": manifest.flavour,
        "system": manifest.system,
        "compositions": compositions,
    }


def _platform(
    deployment: Deployment, host_properties: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, Any]:
    from nxc.flavours.g5k.record import kexec_resources

    resources = kexec_resources(deployment)
    jobs = [] if resources.oar is None else [resources.oar]
    result: dict[str, Any] = {
        "oar_jobs": [
            {"job_id": job.oar_job_id, "frontend": job.frontend.get("host"), "name": job.name}
            for job in jobs
        ],
        "hosts": list(resources.hosts),
        "nodes": [
            {
                "hostname": node.hostname,
                "role": node.role,
                "address": node.address,
                "host": node.ssh_host,
            }
            for node in deployment.nodes
        ],
    }
    if host_properties is not None:
        result["host_properties"] = {host: dict(props) for host, props in host_properties.items()}
    return result


def _iso(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def render_markdown(provenance: Mapping[str, Any]) -> str:
    """``provenance`` (from :func:`collect`) as a Markdown section for an artefact appendix."""
    deployment = provenance.get("deployment") or {}
    lines = [
        f"## Provenance of deployment `{deployment.get('name', '?')}`",
        "",
        f"- nxc version: `{provenance.get('nxc_version', '?')}`",
        f"- composition `{deployment.get('composition')}`, flavour `{deployment.get('flavour')}`, "
        f"created {deployment.get('created_at')}",
        f"- collected: {provenance.get('collected_at')}",
    ]
    lines += _nixpkgs_lines(provenance.get("nixpkgs"), provenance.get("flake_lock"))
    params = provenance.get("kernel_params") or []
    lines.append(f"- extra kernel parameters: {' '.join(f'`{p}`' for p in params) or 'none'}")
    lines += _manifest_lines(provenance.get("manifest"))
    lines += _platform_lines(provenance.get("platform") or {})
    return "\n".join(lines) + "\n"


def _nixpkgs_lines(nixpkgs: Mapping[str, Any] | None, lock: str | None) -> list[str]:
    if not nixpkgs:
        why = "no flake.lock" if lock is None else f"{lock} has no root input 'nixpkgs'"
        return [f"- nixpkgs: not pinned ({why})"]
    source = "/".join(str(nixpkgs[key]) for key in ("owner", "repo") if key in nixpkgs)
    source = source or str(nixpkgs.get("url", nixpkgs.get("type", "?")))
    return [
        f"- nixpkgs: {source} rev `{nixpkgs.get('rev', '?')}`",
        f"  (narHash `{nixpkgs.get('narHash', '?')}`, lastModified "
        f"{nixpkgs.get('lastModifiedDate', nixpkgs.get('lastModified', '?'))}, "
        f"lock node `{nixpkgs.get('node')}`)",
    ]


def _manifest_lines(manifest: Mapping[str, Any] | None) -> list[str]:
    if not manifest:
        return ["", "Build manifest: not available."]
    lines = [
        "",
        f"### Store paths (manifest `{manifest.get('path')}`, system `{manifest.get('system')}`)",
        "",
        "| composition | item | store path |",
        "|---|---|---|",
    ]
    for name, entry in (manifest.get("compositions") or {}).items():
        for role, system in (entry.get("systems") or {}).items():
            lines.append(f"| {name} | role `{role}` | `{system}` |")
        for key in ("kernel", "initrd", "image", "cmdline"):
            if key in entry:
                lines.append(f"| {name} | {key} | `{entry[key]}` |")
    return lines


def _platform_lines(platform: Mapping[str, Any]) -> list[str]:
    lines = ["", "### Platform", ""]
    jobs = platform.get("oar_jobs") or []
    lines.append(
        "- OAR jobs: "
        + (
            ", ".join(f"{job.get('job_id')} on {job.get('frontend') or 'local'}" for job in jobs)
            or "none"
        )
    )
    hosts = platform.get("hosts") or []
    lines.append(f"- hosts: {', '.join(hosts) or 'none (local flavour)'}")
    lines += ["", "| node | role | address | reached at |", "|---|---|---|---|"]
    for node in platform.get("nodes") or []:
        cells = [node.get(key) or "-" for key in ("hostname", "role", "address", "host")]
        lines.append(f"| {' | '.join(cells)} |")
    properties = platform.get("host_properties")
    if properties:
        lines += ["", "| host | OAR properties |", "|---|---|"]
        for host, props in properties.items():
            shown = ", ".join(f"{key}={value}" for key, value in sorted(props.items()))
            lines.append(f"| {host} | {shown} |")
    return lines
