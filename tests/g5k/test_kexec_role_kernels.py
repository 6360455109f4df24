"""Per-role kernels on the kexec flavours, over test-bed VMs standing for hosts (machine
file, nothing mocked): each host gets every distinct boot file and kexecs its node into its
role's kernel, initrd and base command line (the manifest's ``role_boot``).

The role's kernel is a copy of the test-bed guest's (nixpkgs kernels cannot be built here),
and its initrd the guest's with one file more, so that a node shows which initrd it booted;
its command line carries a marker word the shared one lacks.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from nxc.deploy import start_deployment, stop_deployment
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.g5k.kexec import sha256_of
from nxc.manifest import Manifest, RoleBoot
from tests.g5k.conftest import kexec_manifest, two_node_plan
from tests.g5k.hostvms import PARAMS
from tests.g5k.test_kexec_deploy import flavour, on_node
from tests.testbed.cpio import with_file

pytestmark = pytest.mark.vm

MARKER = "nxc.testrole=server"
ROLE_FILE = "/etc/nxc-role-initrd"


def with_server_boot(manifest: Manifest, folder: Path) -> Manifest:
    """``manifest`` whose role ``server`` boots boot files of its own, made in ``folder``."""
    composition = manifest.compositions[0]
    shared = composition.artefacts
    kernel = shutil.copy(shared.kernel or "", folder / "bzImage")
    initrd = with_file(
        Path(shared.initrd or ""), ROLE_FILE.lstrip("/"), b"server\n", 0o644, folder / "initrd"
    )
    own = RoleBoot(str(kernel), str(initrd), f"{PARAMS} {MARKER}")
    artefacts = dataclasses.replace(shared, role_boot={"server": own})
    return dataclasses.replace(
        manifest, compositions=(dataclasses.replace(composition, artefacts=artefacts),)
    )


def test_each_node_is_kexeced_into_its_roles_kernel(lab, testbed_guest, store, tmp_path):
    machine_file = tmp_path / "nodes"
    machine_file.write_text("\n".join(lab.hosts[:2]) + "\n")
    manifest = with_server_boot(kexec_manifest(testbed_guest), tmp_path)
    kexec = flavour(lab, hosts=HostSource(machine_file=machine_file, check_with_oar=False))
    deployment = start_deployment(store, manifest, two_node_plan(), kexec)
    try:
        boots = [manifest.compositions[0].boot_files(role) for role in ("server", "client")]
        distinct = {sha256_of(Path(path)) for files in boots for path in files[:2]}
        assert len(distinct) == 3 and set(kexec._files) == distinct  # every host got all
        for hostname, own in (("server", True), ("client", False)):
            cmdline = on_node(store, deployment, hostname, "cat /proc/cmdline").split()
            assert (MARKER in cmdline) is own, cmdline
            assert "nxc.info=" in " ".join(cmdline)  # nxc's per-node parameters follow
            found = on_node(store, deployment, hostname, f"cat {ROLE_FILE} || echo none")
            assert found.strip() == ("server" if own else "none")
            name = on_node(store, deployment, hostname, "hostname").strip()
            assert name == hostname
    finally:
        stop_deployment(store, deployment.name)
