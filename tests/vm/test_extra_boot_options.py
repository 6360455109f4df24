"""Extra kernel parameters and QEMU arguments of the vm flavour (NixOS-Compose's
``-k/--kernel-params`` and ``QEMU_OPTS``): checked in one line, then seen by a booted guest."""

from __future__ import annotations

import pytest

from nxc.errors import InputError
from nxc.flavours.vm import qemu
from nxc.flavours.vm.options import VmOptions
from tests.vm.test_vm_e2e import ssh, start


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kernel_params": ["quiet\ninit=/bin/sh"]}, "newline or control character"),
        ({"kernel_params": ["a=b nxc.info_url=http://x/"]}, "nxc.* parameters are nxc's own"),
        ({"kernel_params": ["NXC.host_key=abc"]}, "nxc.* parameters are nxc's own"),
        ({"qemu_options": ["-append", "x"]}, "would override what nxc sets itself"),
        ({"qemu_options": ["-fw_cfg", "name=opt/nxc/info,file=/tmp/i"]}, "opt/nxc/"),
        ({"qemu_options": ["-smp\n4"]}, "newline or control character"),
    ],
)
def test_bad_extra_options_are_refused_in_one_line(options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("*", r"\*").replace(".", r"\.")) as error:
        VmOptions(**options)
    assert "\n" not in str(error.value)


def test_extra_options_reach_the_qemu_command_line() -> None:
    options = VmOptions(kernel_params=("a=b  c", "d"), qemu_options=("-smbios", "type=1,serial=S"))
    assert options.kernel_params == ("a=b", "c", "d")
    assert qemu.user_qemu_options(["-device", "virtio-rng-pci"]) == ("-device", "virtio-rng-pci")
    assert options.qemu_options == ("-smbios", "type=1,serial=S")


@pytest.mark.vm
def test_a_booted_node_sees_the_extra_kernel_parameter_and_qemu_option(vm_project, vm_cleanup):
    """The parameter is on the guest's /proc/cmdline; the QEMU option (an SMBIOS serial) is
    what the guest's firmware tables say; the record keeps both for restarts."""
    deployment = start(
        vm_project,
        vm_cleanup,
        1,
        kernel_params=["nxc_test.answer=42 quiet"],
        qemu_options=["-smbios", "type=1,serial=nxc-extra-option"],
    )
    cmdline = ssh(vm_project, deployment, "node1", "cat /proc/cmdline").stdout.split()
    assert "nxc_test.answer=42" in cmdline and "quiet" in cmdline
    serial = ssh(vm_project, deployment, "node1", "cat /sys/class/dmi/id/product_serial")
    assert serial.stdout.strip() == "nxc-extra-option"
    argv = deployment.node("node1").extra["argv"]
    assert argv[-2:] == ["-smbios", "type=1,serial=nxc-extra-option"]
