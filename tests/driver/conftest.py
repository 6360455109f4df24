"""Fixtures for the driver tests: namespace hosts with real sshd, seen as a deployment.

``ns_deployment`` (one per module) starts three namespace hosts (``node-1``..``node-3``) and
records them as a running deployment of the ``netnstest`` flavour (see ``nsflavour.py``) in a
temporary project; ``driver`` gives each test a fresh :class:`~nxc.driver.driver.Driver` over
nxc's real SSH transport, with every node running, unblocked, and its log captured.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nxc import keys
from nxc.deployment import Deployment, DeploymentState, DeploymentStore
from nxc.driver.deployment_backend import open_driver
from nxc.driver.driver import Driver
from nxc.driver.logger import DriverLogger, LogLevel
from nxc.flavours.base import REGISTRY
from tests.driver.nsflavour import FLAVOUR_NAME, REGISTRY_ENTRY, NamespaceFlavour, namespace_node
from tests.netns import NamespaceHosts
from tests.vm.conftest import testbed_guest, vm_cleanup, vm_project  # noqa: F401 (vm tests)

NODE_SHARED_DIR = Path("/tmp/shared")
"""Where nodes see the shared folder: it must exist on the host to be a mount point."""
COMPOSITION = "drivertest"
ROLES = ["server", "client", "client"]
MANIFEST_TEST_SCRIPT = """\
start_all()
with subtest("test script from the build manifest"):
    node_1.succeed("true")
    log.info("manifest script ran on " + ", ".join(m.name for m in machines))
"""


def _write_manifest(project: Path) -> Path:
    """A build manifest whose composition carries ``MANIFEST_TEST_SCRIPT``."""
    store_path = "/nix/store/00000000000000000000000000000000-nixos-system-"
    manifest = {
        "nxc_manifest": 1,
        "flavour": "vm",
        "system": "x86_64-linux",
        "compositions": {
            COMPOSITION: {
                "roles": {role: {"system": store_path + role} for role in set(ROLES)},
                "test_script": MANIFEST_TEST_SCRIPT,
            }
        },
    }
    path = project / "build" / f"{COMPOSITION}.json"
    path.parent.mkdir()
    path.write_text(json.dumps(manifest))
    return path


def _can_run_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "namespace hosts need root"
    for tool in ("ip", "nsenter", "unshare", "sshd"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"namespace hosts need {tool}"
    return None


@dataclass
class NamespaceDeployment:
    """The project, record and store the namespace hosts are recorded in."""

    project: Path
    store: DeploymentStore
    deployment: Deployment
    shared_dir: Path


@pytest.fixture(scope="module")
def ns_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamespaceDeployment]:
    reason = _can_run_namespaces()
    if reason:
        pytest.skip(reason)
    project = tmp_path_factory.mktemp("driver-project")
    (project / "flake.nix").write_text("{ outputs = _: { }; }\n")
    store = DeploymentStore(project / "deploy")
    name = f"{COMPOSITION}::{FLAVOUR_NAME}"
    public = keys.ensure_client_key(store.client_key_path(name), f"nxc:{name}")
    hosts = NamespaceHosts(len(ROLES), project / "hosts", public, hostname_prefix="node-")
    made_mount_point = not NODE_SHARED_DIR.exists()
    NODE_SHARED_DIR.mkdir(exist_ok=True)
    try:
        hosts.up()
        nodes = [namespace_node(host, role) for host, role in zip(hosts.hosts, ROLES, strict=True)]
        shared = store.state_dir(name) / "shared"
        shared.mkdir()
        deployment = Deployment(
            COMPOSITION,
            FLAVOUR_NAME,
            nodes=nodes,
            manifest=str(_write_manifest(project)),
            state=DeploymentState.running,
            resources={"shared_dir": str(shared)},
        )
        keys.write_known_hosts(store.known_hosts_path(name), nodes)
        store.save(deployment)
        flavour = NamespaceFlavour()
        for node in nodes:  # again, with /tmp/shared mounted (see nsflavour.start_sshd)
            flavour.crash_node(deployment, store, node.hostname)
            flavour.start_node(deployment, store, node.hostname)
        yield NamespaceDeployment(project, store, deployment, shared)
    finally:
        hosts.down()
        if made_mount_point:
            with contextlib.suppress(OSError):
                NODE_SHARED_DIR.rmdir()


@pytest.fixture
def ns_flavour(ns_deployment: NamespaceDeployment) -> NamespaceFlavour:
    """The flavour, with every node running and unblocked (whatever the last test did)."""
    flavour = NamespaceFlavour()
    for node in ns_deployment.deployment.nodes:
        flavour.start_node(ns_deployment.deployment, ns_deployment.store, node.hostname)
        flavour.unblock_node(ns_deployment.deployment, node.hostname)
    return flavour


@pytest.fixture
def registered_flavour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``get_flavour`` find the namespace flavour (for the CLI)."""
    monkeypatch.setitem(REGISTRY, FLAVOUR_NAME, REGISTRY_ENTRY)


@pytest.fixture
def log_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def driver(
    ns_deployment: NamespaceDeployment,
    ns_flavour: NamespaceFlavour,
    log_stream: io.StringIO,
    tmp_path: Path,
) -> Iterator[Driver]:
    """A driver over the namespace deployment, its log in ``log_stream``."""
    logger = DriverLogger(stream=log_stream, level=LogLevel.DEBUG, color=False)
    with ns_flavour.transport(ns_deployment.deployment, ns_deployment.store) as transport:
        driver = open_driver(
            ns_deployment.deployment,
            ns_deployment.store,
            ns_flavour,
            transport,
            logger,
            out_dir=tmp_path / "out",
            boot_timeout=120,
        )
        yield driver
