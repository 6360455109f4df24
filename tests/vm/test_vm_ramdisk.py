"""The vm-ramdisk flavour on the test bed: local QEMU nodes booted with the kernel command line
kexec gives on Grid'5000 (info and host key by URL from nxc's info server, run per connection
by QEMU's user network), through ``nxc start -f vm-ramdisk`` and the Python API. Real QEMU,
VDE switch, guest, SSH; the Debian guest's initrd stands in for g5k-ramdisk's."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.deploy import start_deployment, stop_deployment
from nxc.deployment import DeploymentState
from nxc.errors import InputError, ManifestError
from nxc.flavours import flavour_class
from nxc.flavours.vm.options import VmRamdiskOptions
from nxc.flavours.vm.ramdisk import VmRamdiskFlavour
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.vm.conftest import VmProject, marked_processes, nxc, write_manifest
from tests.vm.test_vm_e2e import assert_cleaned, ssh

RAMDISK_SCRIPT = """\
start_all()
with subtest("booted as kexec boots a Grid'5000 node"):
    machine.succeed("test $(hostname) = node")
    machine.succeed("grep -q 'nxc.info_url=http://10.0.2.100/' /proc/cmdline")
    machine.succeed("grep -q 'nxc.host_key_url=http://10.0.2.100/' /proc/cmdline")
    machine.fail("grep -q PRIVATE /proc/cmdline")
    machine.fail("ls /sys/firmware/qemu_fw_cfg/by_name/opt/nxc")
    machine.succeed("test $(stat -c %a /etc/ssh/ssh_host_ed25519_key) = 600")
"""


@pytest.fixture
def ramdisk_project(tmp_path: Path, testbed_guest) -> VmProject:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    kernel, initrd, cmdline = testbed_guest
    manifest = write_manifest(
        tmp_path / "manifest.json", kernel, initrd, cmdline, "vm-ramdisk", RAMDISK_SCRIPT
    )
    return VmProject(tmp_path, manifest)


def test_registered_and_checked(vm_project: VmProject) -> None:
    assert flavour_class("vm-ramdisk") is VmRamdiskFlavour
    with pytest.raises(InputError, match="NIC model 'rtl8139' is unknown; give one of virtio"):
        VmRamdiskOptions(nic_model="rtl8139")
    with pytest.raises(ManifestError, match="not 'vm-ramdisk'; build for it with 'nxc build"):
        VmRamdiskFlavour().check_request(vm_project.manifest(), "testbed", ["node1"])


@pytest.mark.vm
def test_nxc_start_boots_it_runs_the_test_script_and_stop_cleans(
    ramdisk_project: VmProject, vm_cleanup: list
) -> None:
    name = "testbed::vm-ramdisk"
    vm_cleanup.append((ramdisk_project.store, name))
    run = nxc(
        "start", "--manifest", str(ramdisk_project.manifest_path), "-f", "vm-ramdisk",
        "-t", "--timeout", "900",
        cwd=ramdisk_project.root, timeout=1000,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"stopped {name}" in run.stdout
    record = ramdisk_project.store.load(name)
    assert record.state is DeploymentState.stopped
    assert marked_processes(record.resources["marker"]) == []
    assert not Path(record.resources["run_dir"]).exists()
    assert not Path(record.resources["secret_dir"]).exists()


@pytest.mark.vm
def test_e1000e_nodes_fetch_their_own_key_once_and_reach_each_other(
    ramdisk_project: VmProject, vm_cleanup: list
) -> None:
    """Two nodes with e1000e NICs: each took its own key (a second fetch gets 410, the other
    node's key 403), nothing secret in QEMU's arguments, pings by name on the VDE segment."""
    manifest = ramdisk_project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options(["node=2"]))
    vm_cleanup.append((ramdisk_project.store, plan.deployment_name))
    flavour = VmRamdiskFlavour(
        VmRamdiskOptions(nic_model="e1000e", accel="tcg", memory="192M", timeout=900)
    )
    deployment = start_deployment(ramdisk_project.store, manifest, plan, flavour)
    secret_dir = Path(deployment.resources["secret_dir"])
    token = (secret_dir / "info.token").read_text().strip()
    for node in deployment.nodes:
        argv = " ".join(node.extra["argv"])
        assert "PRIVATE KEY" not in argv and "fw_cfg" not in argv and "nixstore" not in argv
        assert argv.count("e1000e,netdev=") == 2
        drivers = "for d in /sys/class/net/*/device/driver; do readlink -f $d; done"
        driver = ssh(ramdisk_project, deployment, node.hostname, drivers).stdout.split()
        assert len(driver) == 2 and all(path.endswith("/e1000e") for path in driver), driver
        mine = f"http://10.0.2.100/{token}/host_key/{node.hostname}"
        again = ssh(ramdisk_project, deployment, node.hostname, f"wget -q -O /tmp/k {mine} 2>&1")
        assert "410" in again.stdout + again.stderr and again.returncode != 0
        other = next(n for n in deployment.nodes if n is not node).hostname
        theirs = f"http://10.0.2.100/{token}/host_key/{other}"
        stolen = ssh(ramdisk_project, deployment, node.hostname, f"wget -q -O /tmp/k {theirs} 2>&1")
        assert "403" in stolen.stdout + stolen.stderr and stolen.returncode != 0
        ping = ssh(ramdisk_project, deployment, node.hostname, f"ping -c 1 -W 5 {other}")
        assert ping.returncode == 0, ping.stdout + ping.stderr
    assert list((secret_dir / "host_keys").iterdir()) == [], "both keys were taken once"
    stop_deployment(ramdisk_project.store, deployment.name)
    assert_cleaned(ramdisk_project, deployment)


def test_a_node_added_fetches_the_new_info_by_url_with_the_deployment_token(
    ramdisk_project: VmProject, vm_cleanup: list
) -> None:
    """nxc start --add on vm-ramdisk: the new node takes the info listing both nodes, and its
    own key, from the info server under the deployment's token; node1 then lists it."""
    from nxc.resize import add_nodes

    manifest = ramdisk_project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options(["node=1"]))
    vm_cleanup.append((ramdisk_project.store, plan.deployment_name))
    flavour = VmRamdiskFlavour(VmRamdiskOptions(accel="tcg", memory="192M", timeout=900))
    deployment = start_deployment(ramdisk_project.store, manifest, plan, flavour)
    token = (Path(deployment.resources["secret_dir"]) / "info.token").read_text().strip()

    grown = add_nodes(
        ramdisk_project.store,
        deployment.name,
        parse_role_options(["node=1"]),
        flavour=VmRamdiskFlavour(VmRamdiskOptions(timeout=900)),
    )
    assert grown.added == ("node2",)
    record = ramdisk_project.store.load(deployment.name)
    cmdline = ssh(ramdisk_project, record, "node2", "cat /proc/cmdline").stdout
    assert f"nxc.info_url=http://10.0.2.100/{token}/" in cmdline
    assert ssh(ramdisk_project, record, "node2", "hostname").stdout.strip() == "node2"
    hosts = ssh(ramdisk_project, record, "node1", "cat /etc/hosts").stdout
    assert f"{record.node('node2').address} node2" in hosts
    ping = ssh(ramdisk_project, record, "node1", "ping -c 1 -W 5 node2")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    stop_deployment(ramdisk_project.store, deployment.name)
    assert_cleaned(ramdisk_project, record)
