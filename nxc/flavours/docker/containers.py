"""What each container of a docker deployment looks like, from the build manifest to the API.

The manifest's ``artefacts.containers`` maps each role to one of:

* a store path (what ``nxc build -f docker`` writes): the role's NixOS container system. The
  container runs ``<system>/init`` (stage 2, then systemd) as PID 1 on nxc's empty base image,
  privileged, in its own cgroup namespace, with ``container=docker`` in its environment and
  ``SIGRTMIN+3`` (systemd's halt) as stop signal;
* an object ``{"image": NAME, "command": [...], "system": PATH, "privileged": BOOL,
  "stop_signal": SIGNAL, "environment": {...}}`` (only ``image`` required): a ready-made image
  that follows the node contract by itself (the test suite's stand-in uses this);
* either form with published ports and extra volumes (NixOS-Compose's ``dockerPorts.<role>``
  and ``extraVolumes``, see :mod:`nxc.flavours.docker.publish`): the object form with
  ``"ports"`` and ``"volumes"`` lists, ``{"system": PATH, "ports": [...], "volumes": [...]}``
  (no ``image``) being the NixOS system at PATH;
* either object form with ``"registration": PATH`` (what ``nxc build -f docker`` writes with
  the system): the role system's closure registration (``pkgs.closureInfo``), which the
  container's stage 2 loads into its Nix database over a writable overlay of the store
  (nxc/nix/flavours/docker.nix, docs/node-contract.md).

Every node's container gets: its hostname, the labels ``nxc.deployment/node/role/marker``, a
terminal (its console is the container's log), ``/run`` as tmpfs, the host's ``/nix/store``
read-only (when the host has one), ``/tmp/shared`` bound to the deployment's shared folder, and
the node contract's two files bound read-only: ``/etc/nxc/info.json`` (the deployment info)
and ``/etc/nxc/host_key`` (this node's private host key, and only this node's); and, when its
role has one, the closure registration bound read-only at ``/etc/nxc/registration``.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc.errors import ManifestError
from nxc.flavours.docker.engine import (
    LABEL_DEPLOYMENT,
    LABEL_MARKER,
    LABEL_NODE,
    LABEL_ROLE,
    api_errors,
)
from nxc.flavours.docker.publish import ExtraVolume, PublishedPort, parse_port, parse_volume

if TYPE_CHECKING:
    import docker

    from nxc.manifest import Manifest

BASE_IMAGE = "nxc-empty-root:1"
"""nxc's base image for NixOS container systems: an empty root with the folders stage 2 needs;
everything else comes from the bind-mounted ``/nix/store``. Imported on first use, kept."""

INFO_PATH = "/etc/nxc/info.json"
HOST_KEY_PATH = "/etc/nxc/host_key"
REGISTRATION_PATH = "/etc/nxc/registration"
"""Where a container finds its role system's closure registration (nxc/nix/flavours/docker.nix)."""
SHARED_PATH = "/tmp/shared"
HOST_STORE = Path("/nix/store")
RUN_TMPFS = "rw,exec,nosuid,nodev,mode=755"
NIXOS_STOP_SIGNAL = "SIGRTMIN+3"
_ENTRY_KEYS = (
    "image",
    "command",
    "system",
    "privileged",
    "stop_signal",
    "environment",
    "ports",
    "volumes",
    "registration",
)
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
_REBUILD = "rebuild with 'nxc build -f docker'"


@dataclass(frozen=True)
class RoleContainer:
    """How the containers of one role run (see the module documentation)."""

    image: str
    command: tuple[str, ...]
    system: str | None = None
    privileged: bool = False
    stop_signal: str = "SIGTERM"
    environment: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PublishedPort, ...] = ()
    volumes: tuple[ExtraVolume, ...] = ()
    registration: str | None = None
    """The role system's closure registration (a file on the host), bound read-only at
    :data:`REGISTRATION_PATH`."""


def role_containers(manifest: Manifest, composition: str) -> dict[str, RoleContainer]:
    """Each role's container description; :class:`ManifestError` if not a usable docker build."""
    if manifest.flavour != "docker":
        raise ManifestError(
            f"{manifest.source} was built for flavour '{manifest.flavour}', not 'docker'; "
            f"build for docker with 'nxc build -f docker', or start it with -f {manifest.flavour}"
        )
    entry = manifest.composition(composition)
    entry.artefacts.require("containers", flavour="docker", source=manifest.source)
    containers = entry.artefacts.containers or {}
    result = {}
    for role in entry.roles:
        where = f"{manifest.source}: artefacts.containers.{role.name}"
        if role.name not in containers:
            raise ManifestError(f"{where} is missing; {_REBUILD}")
        result[role.name] = _role_container(containers[role.name], role.system, where)
    return result


def _nixos_container(system: str, where: str) -> RoleContainer:
    init = Path(system) / "init"
    if not init.exists():
        raise ManifestError(
            f"{where}: {init} does not exist (garbage-collected, or built on another "
            f"machine?); {_REBUILD}"
        )
    return RoleContainer(
        image=BASE_IMAGE,
        command=(str(init),),
        system=system,
        privileged=True,
        stop_signal=NIXOS_STOP_SIGNAL,
        environment={"container": "docker"},
    )


def _listed(value: Mapping[str, Any], key: str, where: str) -> list[Any]:
    listed = value.get(key, [])
    if not isinstance(listed, list):
        raise ManifestError(f"{where}: '{key}' must be a list")
    return listed


def _role_container(value: Any, role_system: str, where: str) -> RoleContainer:
    if isinstance(value, str):
        return _nixos_container(value, where)
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where} must be a store path or a JSON object; {_REBUILD}")
    unknown = [key for key in value if key not in _ENTRY_KEYS]
    if unknown:
        raise ManifestError(f"{where}: unknown keys {unknown} (known: {', '.join(_ENTRY_KEYS)})")
    ports = tuple(parse_port(p, where) for p in _listed(value, "ports", where))
    volumes = tuple(parse_volume(v, where) for v in _listed(value, "volumes", where))
    registration = _registration(value, where)
    if "image" not in value and isinstance(value.get("system"), str):
        base = _nixos_container(value["system"], where)
        return replace(base, ports=ports, volumes=volumes, registration=registration)
    image = value.get("image")
    command = value.get("command", [])
    environment = value.get("environment", {})
    if not isinstance(image, str) or not image:
        raise ManifestError(f"{where}: 'image' must name an image of the engine; {_REBUILD}")
    if not isinstance(command, list) or not all(isinstance(arg, str) for arg in command):
        raise ManifestError(f"{where}: 'command' must be a list of strings")
    if not isinstance(environment, Mapping) or not all(
        isinstance(v, str) for v in environment.values()
    ):
        raise ManifestError(f"{where}: 'environment' must map names to strings")
    return RoleContainer(
        image=image,
        command=tuple(command),
        system=value.get("system") or role_system,
        privileged=bool(value.get("privileged", False)),
        stop_signal=str(value.get("stop_signal") or "SIGTERM"),
        environment=dict(environment),
        ports=ports,
        volumes=volumes,
        registration=registration,
    )


def _registration(value: Mapping[str, Any], where: str) -> str | None:
    registration = value.get("registration")
    if registration is None:
        return None
    if not isinstance(registration, str) or not registration.startswith("/"):
        raise ManifestError(f"{where}: 'registration' must be an absolute path; {_REBUILD}")
    if not Path(registration).is_file():
        raise ManifestError(
            f"{where}: registration {registration} does not exist (garbage-collected, or built "
            f"on another machine?); {_REBUILD}"
        )
    return registration


def container_name(deployment: str, hostname: str) -> str:
    """The engine-side name of a node's container: ``nxc-<deployment>-<hostname>``."""
    return f"nxc-{safe_name(deployment)}-{hostname}"


def network_name(deployment: str) -> str:
    """The engine-side name of a deployment's network: ``nxc-<deployment>``."""
    return f"nxc-{safe_name(deployment)}"


def safe_name(deployment: str) -> str:
    """``deployment`` with the characters the engine refuses in names replaced by '.'."""
    return _NAME_UNSAFE.sub(".", deployment.replace("::", "."))


@dataclass(frozen=True)
class NodeContainer:
    """Everything needed to create one node's container (and its docker-compose service)."""

    name: str
    hostname: str
    role: str
    address: str
    role_container: RoleContainer
    labels: Mapping[str, str]
    binds: tuple[tuple[str, str, bool], ...]
    """(host path, container path, read-only)."""

    def host_config_args(self) -> dict[str, Any]:
        """Arguments of ``APIClient.create_host_config``.

        Binds are structured mounts: the state folder's path holds ``::``, which the short
        ``SOURCE:TARGET:MODE`` form cannot carry.
        """
        from docker.types import Mount

        rc = self.role_container
        return {
            "mounts": [
                Mount(target, host, type="bind", read_only=read_only)
                for host, target, read_only in self.binds
            ]
            + [Mount(v.target, v.source, type=v.kind, read_only=v.read_only) for v in rc.volumes],
            "port_bindings": {
                p.container_port: (p.host_ip, p.host_port) if p.host_ip else p.host_port
                for p in rc.ports
            },
            "tmpfs": {"/run": RUN_TMPFS},
            "privileged": self.role_container.privileged,
            "cgroupns": "private",
            "init": False,
        }


def node_container(
    deployment: str,
    marker: str,
    hostname: str,
    role: str,
    address: str,
    role_container: RoleContainer,
    info_file: Path,
    host_key_file: Path,
    shared_dir: Path,
) -> NodeContainer:
    """The container of node ``hostname`` (see the module documentation for what it gets)."""
    binds = [
        (str(info_file), INFO_PATH, True),
        (str(host_key_file), HOST_KEY_PATH, True),
        (str(shared_dir), SHARED_PATH, False),
    ]
    if HOST_STORE.is_dir():
        binds.insert(0, (str(HOST_STORE), str(HOST_STORE), True))
    if role_container.registration is not None:
        binds.append((role_container.registration, REGISTRATION_PATH, True))
    return NodeContainer(
        name=container_name(deployment, hostname),
        hostname=hostname,
        role=role,
        address=address,
        role_container=role_container,
        labels={
            LABEL_DEPLOYMENT: deployment,
            LABEL_NODE: hostname,
            LABEL_ROLE: role,
            LABEL_MARKER: marker,
        },
        binds=tuple(binds),
    )


def create_container(api: docker.APIClient, spec: NodeContainer, network: str) -> str:
    """Create (not start) ``spec``'s container attached to ``network``; its id."""
    rc = spec.role_container
    with api_errors(f"create container {spec.name}"):
        host_config = api.create_host_config(**spec.host_config_args())
        networking = api.create_networking_config(
            {network: api.create_endpoint_config(ipv4_address=spec.address)}
        )
        created = api.create_container(
            rc.image,
            command=list(rc.command) or None,
            hostname=spec.hostname,
            name=spec.name,
            labels=dict(spec.labels),
            environment=dict(rc.environment),
            ports=[_engine_port(p.container_port) for p in rc.ports] or None,
            stop_signal=rc.stop_signal,
            tty=True,
            host_config=host_config,
            networking_config=networking,
        )
    return str(created["Id"])


def _engine_port(container_port: str) -> int | tuple[int, str]:
    """``PORT/PROTO`` as ``APIClient.create_container`` takes it."""
    port, protocol = container_port.split("/")
    return int(port) if protocol == "tcp" else (int(port), protocol)


def ensure_base_image(api: docker.APIClient) -> None:
    """Import :data:`BASE_IMAGE` into the engine unless it is there already."""
    import docker

    try:
        api.inspect_image(BASE_IMAGE)
        return
    except docker.errors.ImageNotFound:
        pass
    repository, tag = BASE_IMAGE.split(":")
    with api_errors(f"import nxc's base image {BASE_IMAGE}"):
        api.import_image_from_data(_empty_root_tar(), repository=repository, tag=tag)


def _empty_root_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder, mode in (
            ("etc", 0o755),
            ("etc/nxc", 0o755),
            ("nix", 0o755),
            ("nix/store", 0o755),
            ("run", 0o755),
            ("tmp", 0o1777),
            ("var", 0o755),
            ("root", 0o700),
        ):
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)
    return buffer.getvalue()
