# vm-ramdisk flavour: g5k-ramdisk's boot system (the store of every role in the initrd as a
# squashfs, DHCP and nxc's selection in the scripted stage 1, info and host key fetched from
# nxc's info server) booted by local QEMU instead of kexec. See docs/vm-flavour.md.
{ ... }:
{
  imports = [ ./g5k-ramdisk.nix ];
  # QEMU's two NIC models nxc offers (nic_model virtio or e1000e). Only listed modules enter
  # the initrd (system/boot/kernel.nix + stage-1.nix: modulesClosure of
  # availableKernelModules), and udev loads them there by modalias before udhcpc runs.
  boot.initrd.availableKernelModules = [
    "virtio_pci"
    "virtio_net"
    "e1000e"
  ];
}
