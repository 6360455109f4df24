"""Fixtures for the Grid'5000 flavours: host VMs on a bridge, declared as OAR ``deploy`` nodes.

``host_lab`` (session) boots :data:`HOST_COUNT` test-bed VMs as stand-ins for Grid'5000 hosts
(see :mod:`tests.g5k.hostvms`); after each test, ``lab`` boots again those a test left kexec'd
or altered. ``g5k_oar`` declares the VMs' addresses as ``deploy=YES`` nodes of the real OAR
server of ``tests/oar/conftest.py``; requests select them with :data:`VM_PROPERTIES` so that
the stand-in's namespace nodes are never given to a kexec deployment. ``nfs_store`` exports
this machine's ``/nix/store`` to the VMs over NFS (:mod:`tests.g5k.nfsserver`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.deployment import DeploymentStore
from nxc.errors import MissingToolError
from nxc.manifest import Artefacts, Composition, Manifest, Role
from nxc.plan import Plan, PlannedNode
from tests.g5k import nfsserver
from tests.g5k.hostvms import PARAMS, HostLab
from tests.oar.conftest import (  # noqa: F401 - fixtures used here
    OarStandIn,
    oar_ssh_frontend,
    oar_standin,
)
from tests.testbed.build import build

HOST_COUNT = 3
VM_PROPERTIES = "network_address LIKE '10.215.0.%'"


@pytest.fixture(scope="session")
def testbed_guest(tmp_path_factory: pytest.TempPathFactory):
    """The busybox test-bed guest: both the hosts' standard environment and the composition."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is needed to fetch the guest's Debian packages")
    return build("busybox", tmp_path_factory.mktemp("g5k-guest"))


@pytest.fixture(scope="session")
def host_lab(testbed_guest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostLab]:
    """Test-bed VMs standing for Grid'5000 hosts (needs root for the bridge and taps)."""
    if os.geteuid() != 0:
        pytest.skip("the host VMs need root (bridge, tap devices)")
    for tool in ("qemu-system-x86_64", "busybox", "ip"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed for the host VMs")
    lab = HostLab(
        tmp_path_factory.mktemp("g5k-hosts"), testbed_guest.kernel, testbed_guest.initrd, HOST_COUNT
    )
    try:
        yield lab.open()
    finally:
        lab.close()


@pytest.fixture
def lab(host_lab: HostLab) -> Iterator[HostLab]:
    """The host VMs, each back in its standard environment after the test."""
    yield host_lab
    host_lab.restore()


@pytest.fixture(scope="package")
def oar_with_host_vms(oar_standin: OarStandIn, host_lab: HostLab) -> Iterator[OarStandIn]:  # noqa: F811
    """The OAR stand-in with the host VMs declared as ``deploy=YES`` nodes."""
    for host in host_lab.hosts:
        oar_standin.admin("oarnodesetting", "-a", "-h", host, "-p", "deploy=YES")
    try:
        yield oar_standin
    finally:
        oar_standin.delete_all_jobs()
        for host in host_lab.hosts:
            oar_standin.admin("oarnodesetting", "-s", "Dead", "-h", host)


@pytest.fixture
def g5k_oar(oar_with_host_vms: OarStandIn, host_lab: HostLab) -> Iterator[OarStandIn]:
    """The stand-in, the host VMs ``Alive`` for this test.

    OAR's periodic node check (Finaud, every 5 minutes) logs into free nodes on OAR's own sshd
    (port 6667), which the VMs do not run: it marks them ``Suspected``. A Grid'5000 node passes
    that check; here each test declares them ``Alive`` again before it reserves.
    """
    for host in host_lab.hosts:
        oar_with_host_vms.admin("oarnodesetting", "-s", "Alive", "-h", host)
    yield oar_with_host_vms
    oar_with_host_vms.delete_all_jobs()


def kexec_manifest(guest, flavour: str = "g5k-ramdisk", test_script: str | None = None) -> Manifest:
    """A manifest whose composition boots the test-bed guest (roles ``server`` and ``client``)."""
    composition = Composition(
        "composition",
        (
            Role("server", "/nix/store/0000-role-server"),
            Role("client", "/nix/store/0000-role-client"),
        ),
        test_script,
        Artefacts(kernel=str(guest.kernel), initrd=str(guest.initrd), cmdline=PARAMS),
    )
    return Manifest(flavour, "x86_64-linux", (composition,), source="test manifest")


def two_node_plan(flavour: str = "g5k-ramdisk") -> Plan:
    """``server`` and ``client``, one node each."""
    return Plan(
        "composition", flavour, (PlannedNode("server", "server"), PlannedNode("client", "client"))
    )


@pytest.fixture
def store(tmp_path: Path) -> DeploymentStore:
    return DeploymentStore(tmp_path / "deploy")


@pytest.fixture
def nfs_store(host_lab: HostLab, tmp_path: Path) -> Iterator[Path]:
    """This machine's ``/nix/store`` exported read-only over NFSv3 on the host VMs' bridge.

    The store is created when missing and given a marker folder when empty (so that the nodes
    have something to list); both are removed afterwards, and the server is stopped by pid.
    """
    try:
        nfsserver.tools()
    except MissingToolError as missing:
        pytest.skip(str(missing))
    nix_store = Path("/nix/store")
    made = [folder for folder in (nix_store.parent, nix_store) if not folder.exists()]
    nix_store.mkdir(parents=True, exist_ok=True)
    marker = nix_store / f"{secrets.token_hex(16)}-nxc-nfs-marker"
    if not any(nix_store.iterdir()):
        marker.mkdir()
    server = nfsserver.NfsServer(tmp_path / "nfs", nix_store, host_lab.gateway)
    try:
        server.start()
        yield nix_store
    finally:
        server.stop()
        if marker.exists():
            marker.rmdir()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()


def manifest_with(systems: dict[str, str], flavour: str = "g5k-ramdisk") -> Manifest:
    """A manifest of one composition, ``composition``, with these roles (role → system)."""
    roles = tuple(Role(role, system) for role, system in systems.items())
    return Manifest(flavour, "x86_64-linux", (Composition("composition", roles),))
