"""The vm flavour's default memory is what a NixOS system needs (nixpkgs' qemu-vm.nix: 1024)."""

from __future__ import annotations

from nxc.flavours.vm.flavour import VmFlavour
from nxc.flavours.vm.options import VmOptions, VmRamdiskOptions


def test_default_memory_is_nixpkgs_vm_default() -> None:
    assert VmFlavour().options.memory_mib == 1024
    assert VmOptions(memory="192M").memory_mib == 192  # the test bed's small guest passes less
    assert VmRamdiskOptions().memory_mib == 2048  # vm-ramdisk: the store lives in RAM
