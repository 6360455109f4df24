"""The vm flavours' options and record sections: built from keywords as the CLI and the Python
API give them, and records as earlier nxc versions wrote them read and written back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node
from nxc.errors import DeploymentRecordError, InputError
from nxc.flavours import get_flavour
from nxc.flavours.vm.flavour import VmFlavour, _resources_of_others
from nxc.flavours.vm.options import VmOptions, VmRamdiskOptions
from nxc.flavours.vm.record import VmNodeFacts, VmResources
from nxc.record_section import node_facts_of, resources_of

RUN_DIR = "/tmp/nxc-1000/nxc-0123456789ab"
RESOURCES = {
    "marker": "nxc-0123456789ab",
    "run_dir": RUN_DIR,
    "secret_dir": "/home/u/.local/share/nxc/secrets/c::vm/nodes",
    "shared_dir": "/p/.nxc/deploy/c::vm/shared",
    "subnet": 42,
    "accel": "tcg",
    "memory_mib": 192,
    "cpus": 2,
    "kernel_params": ["quiet"],
    "qemu_options": ["-smbios", "type=1,serial=S"],
    "disk_size": "64M",
    "ports": [22001, 22002, 8080],
    "switch": {
        "dir": f"{RUN_DIR}/switch",
        "pidfile": f"{RUN_DIR}/switch.pid",
        "pid": 4242,
        "pid_start": "boot:123",
        "ports": 66,
    },
}
"""A vm deployment's resources as nxc writes them once its nodes are launched."""
EXTRA = {
    "forwards": [[8080, 80]],
    "argv": ["qemu-system-x86_64", "-name", "node1:nxc-0123456789ab"],
    "console_log": "/p/.nxc/deploy/c::vm/logs/node1.console.log",
    "qemu_log": "/p/.nxc/deploy/c::vm/logs/node1.qemu.log",
    "qmp_socket": f"{RUN_DIR}/node1.qmp",
    "disk": "/p/.nxc/deploy/c::vm/disks/node1.qcow2",
    "pid_start": "boot:124",
}


def deployment(resources: dict, extra: dict | None = None) -> Deployment:
    node = Node("node1", "node", "10.42.0.1", "127.0.0.1", 22001, extra=dict(extra or {}))
    return Deployment("c", "vm", nodes=[node], resources=resources)


def test_a_record_reads_typed_and_is_written_back_the_same() -> None:
    record = deployment(RESOURCES, EXTRA)
    resources = resources_of(VmResources, record)
    assert resources.switch.pid == 4242 and resources.run_dir == Path(RUN_DIR)
    assert resources.kernel_params == ("quiet",)
    assert resources.to_record() == RESOURCES
    facts = node_facts_of(VmNodeFacts, record, record.nodes[0])
    assert facts.forwards == [(8080, 80)] and facts.qmp_socket == Path(RUN_DIR) / "node1.qmp"
    assert facts.to_record() == EXTRA


def test_a_record_of_another_flavour_reads_as_no_subnet_and_no_ports(tmp_path: Path) -> None:
    store = DeploymentStore(tmp_path)
    running = DeploymentState.running
    store.save(Deployment("a", "vm", state=running, resources={"subnet": 5, "ports": [1]}))
    store.save(Deployment("b", "vm-ramdisk", state=running, resources={"ports": "22"}))
    store.save(Deployment("d", "docker", state=running, resources={"network": "n"}))
    others = _resources_of_others(store, "new::vm")
    assert [(other.subnet, other.ports) for other in others] == [(5, [1])]
    assert VmResources.from_record({"network": "n"}).ports == []


def test_a_missing_or_misfit_value_names_the_record_and_the_key() -> None:
    with pytest.raises(DeploymentRecordError, match=r"c::vm: 'resources.switch.pid' must be"):
        resources_of(VmResources, deployment(RESOURCES | {"switch": {"pid": "4242"}}))
    flavour = VmFlavour()
    with pytest.raises(DeploymentRecordError, match=r"'nodes\[node1\].extra.console_log' is miss"):
        flavour.console_log(deployment(RESOURCES), "node1")
    assert flavour.console_log(deployment(RESOURCES, EXTRA), "node1").name == "node1.console.log"


def test_options_come_from_the_keywords_of_the_cli_and_the_python_api() -> None:
    vm = get_flavour("vm", memory="2G", forwards=["node1:80"], kernel_params=["a=b c"])
    assert isinstance(vm.options, VmOptions)
    assert vm.options.memory_mib == 2048 and vm.options.kernel_params == ("a=b", "c")
    assert [rule.guest_port for rule in vm.options.forward_rules] == [80]
    ramdisk = get_flavour("vm-ramdisk", nic_model="e1000e")
    assert isinstance(ramdisk.options, VmRamdiskOptions)
    assert ramdisk.options.nic == "e1000e" and ramdisk.options.memory_mib == 2048
    with pytest.raises(InputError, match="nic_model does not apply to the vm flavour"):
        get_flavour("vm", nic_model="e1000e")


def test_added_nodes_get_the_machine_the_record_names() -> None:
    flavour = VmFlavour(VmOptions(memory="1G", cpus=4, disk_size="1G"))
    same = flavour._with_machine_of(VmResources.from_record(RESOURCES))
    assert (same.memory_mib, same.cpus, same.disk_size) == (192, 2, "64M")
    assert same.qemu_options == ("-smbios", "type=1,serial=S")
    diskless = dict(RESOURCES)
    del diskless["disk_size"]  # None is not written: a deployment without disks
    assert flavour._with_machine_of(VmResources.from_record(diskless)).disk_size is None
    older = {"marker": "nxc-0123456789ab", "memory_mib": 256, "cpus": 1}
    kept = flavour._with_machine_of(VmResources.from_record(older))
    assert (kept.memory_mib, kept.cpus, kept.disk_size) == (256, 1, "1G")
