"""Fixtures for the docker flavour: a private Docker engine, the stand-in image, projects.

``docker_engine`` starts its own ``dockerd`` (vfs storage, no iptables, no default bridge, its
own socket, data and exec roots under a fresh temporary folder) once per session and, at the
end, removes every container and network it holds, stops it (only that pid and the containerd
it started), checks no ``docker0`` was left, and deletes its folders. Where this machine's
capability bounding set is not full, its runtime is ``bounded_runc.py`` (runc minus the
missing capabilities, which privileged containers would ask for and runc refuse).

The NixOS container system cannot be built here (no nixpkgs), so ``standin_image`` imports the
test bed's busybox guest (its initramfs is a whole root file system following the node
contract) as an image whose entry point, ``standin/container-boot``, applies the node contract
as the NixOS container does: the same files (``/etc/nxc/info.json``, ``/etc/nxc/host_key``),
the same readiness line. Everything else — engine, API, networks, exec, SSH — is real.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nxc import manifest as manifest_module
from nxc.deployment import DeploymentStore

HERE = Path(__file__).parent
ENTRYPOINT = "/usr/lib/nxc/container-boot"
STANDIN_REPOSITORY = "nxc-testbed-standin"
ENGINE_START_TIMEOUT = 30.0
SKIPPED_IN_IMAGE = ("usr/lib/nxc/modules/",)


@dataclass(frozen=True)
class Engine:
    """A running private engine: its ``DOCKER_HOST`` URL and dockerd's pid."""

    url: str
    pid: int
    root: Path

    def api(self):
        import docker

        return docker.APIClient(base_url=self.url, version="auto", timeout=120)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    """A private dockerd for this test session (skipped without dockerd or root)."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        pytest.skip("the private Docker engine needs root")
    root = Path(tempfile.mkdtemp(prefix="nxcdk-", dir="/tmp"))
    socket = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    argv = [
        dockerd,
        "--storage-driver=vfs",
        "--iptables=false",
        "--ip-masq=false",
        "--bridge=none",
        f"--data-root={root / 'data'}",
        f"--exec-root={root / 'exec'}",
        f"--pidfile={root / 'dockerd.pid'}",
        f"--host=unix://{socket}",
        *_runtime_options(root),
    ]
    had_docker0 = Path("/sys/class/net/docker0").exists()
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    engine = Engine(f"unix://{socket}", process.pid, root)
    try:
        _wait_engine(engine, process, root / "dockerd.log")
        yield engine
    finally:
        _teardown(engine, process, had_docker0)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _runtime_options(root: Path) -> list[str]:
    """dockerd options making ``bounded_runc`` its runtime where this machine's bounding set
    lacks capabilities that privileged containers are given; none elsewhere."""
    from tests.docker.bounded_runc import missing_capabilities

    if not missing_capabilities():
        return []
    launcher = root / "bounded-runc"
    script = shlex.join([sys.executable, str(HERE / "bounded_runc.py")])
    launcher.write_text(f'#!/bin/sh\nexec {script} "$@"\n')
    launcher.chmod(0o755)
    return [f"--add-runtime=bounded-runc={launcher}", "--default-runtime=bounded-runc"]


def _wait_engine(engine: Engine, process: subprocess.Popen[bytes], log: Path) -> None:
    import docker

    deadline = time.monotonic() + ENGINE_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(docker.errors.DockerException):
            engine.api().ping()
            return
        time.sleep(0.1)
    raise RuntimeError(f"dockerd did not answer within {ENGINE_START_TIMEOUT:g} s, see {log}")


def _teardown(engine: Engine, process: subprocess.Popen[bytes], had_docker0: bool) -> None:
    with contextlib.suppress(Exception):
        api = engine.api()
        for container in api.containers(all=True):
            api.remove_container(container["Id"], force=True, v=True)
        for network in api.networks():
            if network["Name"] not in ("none", "host", "bridge"):
                api.remove_network(network["Id"])
        for volume in (api.volumes() or {}).get("Volumes") or []:
            api.remove_volume(volume["Name"])
    helpers = _children(process.pid)  # the containerd this dockerd started
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid in helpers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if not had_docker0 and Path("/sys/class/net/docker0").exists():
        subprocess.run(["ip", "link", "delete", "docker0"], check=False)


@pytest.fixture
def docker_host(docker_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The private engine, with ``DOCKER_HOST`` pointing at it for the test."""
    monkeypatch.setenv("DOCKER_HOST", docker_engine.url)
    return docker_engine


def standin_rootfs_tar(
    initrd: Path, entrypoint: Path | None = HERE / "standin" / "container-boot"
) -> bytes:
    """The test-bed guest's initramfs as a tar of a root file system, plus ``entrypoint`` (if
    any) at :data:`ENTRYPOINT`."""
    with tempfile.TemporaryDirectory(prefix="nxc-standin-") as folder:
        unpacked = Path(folder) / "root"
        unpacked.mkdir()
        data = initrd.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        subprocess.run(
            ["cpio", "-idm", "--quiet", "--no-absolute-filenames"],
            input=data,
            cwd=unpacked,
            check=True,
        )
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path in sorted(unpacked.rglob("*")):
                relative = path.relative_to(unpacked).as_posix()
                if relative.startswith(SKIPPED_IN_IMAGE) or relative == ENTRYPOINT[1:]:
                    continue
                tar.add(str(path), arcname=relative, recursive=False)
            if entrypoint is not None:
                tar.add(str(entrypoint), arcname=ENTRYPOINT[1:])
        return buffer.getvalue()


@pytest.fixture(scope="session")
def standin_image(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``nxc-testbed-standin:<key>``: the test-bed root file system imported into the engine."""
    return import_variant(
        docker_engine, tmp_path_factory, "busybox", STANDIN_REPOSITORY, ENTRYPOINT
    )


def import_variant(
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    variant: str,
    repository: str,
    command: str,
    entrypoint: Path | None = HERE / "standin" / "container-boot",
) -> str:
    """Build the test-bed guest ``variant``, import its root file system (with ``entrypoint``)
    as ``repository:<key>`` running ``command``; the image's name."""
    from tests.testbed.build import build

    artifacts = build(variant, tmp_path_factory.mktemp(f"guest-{variant}"))
    tag = artifacts.info()["key"]
    data = standin_rootfs_tar(artifacts.initrd, entrypoint)
    engine.api().import_image_from_data(
        data, repository=repository, tag=tag, changes=[f'CMD ["{command}"]']
    )
    return f"{repository}:{tag}"


def write_manifest(
    path: Path, image: str, composition: str = "testbed", container: dict | None = None
) -> Path:
    """A one-composition (role ``node``) docker manifest running ``image`` (its container
    description is ``container``, by default the busybox stand-in's entry point)."""
    data = {
        "nxc_manifest": 1,
        "flavour": "docker",
        "system": "x86_64-linux",
        "compositions": {
            composition: {
                "roles": {
                    "node": {
                        "system": "/nix/store/00000000000000000000000000000000-role-node",
                        "default_count": 1,
                    }
                },
                "test_script": "start_all()\n",
                "artefacts": {
                    "containers": {"node": container or {"image": image, "command": [ENTRYPOINT]}}
                },
            }
        },
    }
    path.write_text(json.dumps(data, indent=2))
    return path


class DockerProject:
    """A project folder (flake.nix, deploy/) with a docker manifest for the stand-in image."""

    def __init__(self, root: Path, manifest_path: Path) -> None:
        self.root = root
        self.manifest_path = manifest_path
        self.store = DeploymentStore(root / "deploy")

    def manifest(self) -> manifest_module.Manifest:
        return manifest_module.load(self.manifest_path)


@pytest.fixture
def docker_project(tmp_path: Path, docker_host: Engine, standin_image: str) -> DockerProject:
    """A fresh project whose manifest runs the stand-in image on the private engine."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    return DockerProject(tmp_path, write_manifest(tmp_path / "manifest.json", standin_image))


@pytest.fixture
def docker_cleanup(docker_engine: Engine) -> Iterator[list[tuple[DeploymentStore, str]]]:
    """Register (store, name) pairs; each is stopped (forcefully) after the test."""
    from nxc.deploy import stop_deployment

    started: list[tuple[DeploymentStore, str]] = []
    yield started
    for store, name in started:
        try:
            if store.exists(name):
                stop_deployment(store, name, force=True)
        except Exception as error:
            print(f"cleanup of {name} failed: {error}", file=sys.stderr)


def engine_objects(engine: Engine, deployment: str) -> dict[str, list[str]]:
    """Ids of the containers, networks and volumes labelled with ``deployment``."""
    api = engine.api()
    label = {"label": [f"nxc.deployment={deployment}"]}
    return {
        "containers": [c["Id"] for c in api.containers(all=True, filters=label)],
        "networks": [n["Id"] for n in api.networks(filters=label)],
        "volumes": [v["Name"] for v in (api.volumes(filters=label) or {}).get("Volumes") or []],
    }


def nxc(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    """Run the real ``nxc`` CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


SYSTEMD_REPOSITORY = "nxc-testbed-systemd"
SYSTEMD = "/usr/lib/systemd/systemd"


@pytest.fixture(scope="session")
def systemd_image(docker_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``nxc-testbed-systemd:<key>``: the test bed's systemd variant imported into the engine,
    running systemd itself (not the variant's ``/init``, which loads kernel modules: in a
    privileged container they would go into this machine's kernel). Its units apply the node
    contract from the bind-mounted ``/etc/nxc`` files, start sshd and print the readiness line."""
    return import_variant(
        docker_engine, tmp_path_factory, "systemd", SYSTEMD_REPOSITORY, SYSTEMD, entrypoint=None
    )


def systemd_container(image: str) -> dict:
    """The manifest's container description running ``image`` as nxc runs a NixOS container
    system (see ``nxc.flavours.docker.containers``): systemd as PID 1, privileged, its halt signal as stop
    signal, ``container=docker``."""
    from nxc.flavours.docker.containers import NIXOS_STOP_SIGNAL

    return {
        "image": image,
        "command": [SYSTEMD],
        "privileged": True,
        "stop_signal": NIXOS_STOP_SIGNAL,
        "environment": {"container": "docker"},
    }


@pytest.fixture
def systemd_project(tmp_path: Path, docker_host: Engine, systemd_image: str) -> DockerProject:
    """A fresh project whose manifest runs the systemd image as a NixOS container system."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    manifest = write_manifest(
        tmp_path / "manifest.json", systemd_image, container=systemd_container(systemd_image)
    )
    return DockerProject(tmp_path, manifest)
