"""``nxc start -f g5k-ramdisk`` with NixOS-Compose's ``--ssh`` and setup.toml ``kernel-params``,
through the real CLI: the hosts (test-bed VMs standing for Grid'5000 nodes, known to the real
OAR stand-in) are reachable only with the key and known_hosts given in ``--ssh``, and the
kexec'd nodes' /proc/cmdline holds the parameter. Only Grid'5000 itself is replaced."""

from __future__ import annotations

import json
import shlex

import pytest

from nxc.deployment import DeploymentStore
from nxc.manifest import to_dict
from tests.g5k.conftest import kexec_manifest
from tests.g5k.test_kexec_deploy import on_node
from tests.vm.conftest import nxc

pytestmark = [pytest.mark.vm, pytest.mark.oar]


def test_ssh_command_and_setup_kernel_params_reach_the_kexeced_nodes(
    lab, g5k_oar, testbed_guest, tmp_path
):
    project = tmp_path / "project"
    project.mkdir()
    (project / "flake.nix").write_text("{ outputs = _: { }; }\n")
    (project / "setup.toml").write_text('[options]\nkernel-params = "nxc_test.g5k=from-setup"\n')
    manifest = project / "g5k-ramdisk.json"
    manifest.write_text(json.dumps(to_dict(kexec_manifest(testbed_guest))))
    machine_file = tmp_path / "nodes"
    machine_file.write_text("\n".join(lab.hosts[:2]) + "\n")
    ssh = shlex.join(["ssh", "-l", "root", *lab.ssh_options()])
    store = DeploymentStore(project / "deploy")
    try:
        start = nxc(
            "start", "-f", "g5k-ramdisk", "--manifest", str(manifest), "-m", str(machine_file),
            "--ssh", ssh, "--timeout", "300", cwd=project, timeout=900,
        )  # fmt: skip
        assert start.returncode == 0, start.stderr
        deployment = store.load("composition::g5k-ramdisk")
        for hostname in ("server", "client"):
            cmdline = on_node(store, deployment, hostname, "cat /proc/cmdline").split()
            assert "nxc_test.g5k=from-setup" in cmdline, cmdline
    finally:
        stopped = nxc("stop", "--force", cwd=project, timeout=300)
        assert stopped.returncode == 0 or "no deployment" in stopped.stderr, stopped.stderr
