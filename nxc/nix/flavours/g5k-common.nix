# Shared by the Grid'5000 flavours (booted by kexec or Kadeploy on real hardware). The boot
# system's scripted stage 1 (nixpkgs' stage-1-init.sh) gets an address by DHCP, then nxc's
# postMountCommands (modules/base.nix) find this node's entry by that address, fetch
# nxc.info_url if given, and hand over to the role's system. See docs/g5k-flavours.md.
{ lib, ... }:
{
  # kexec and Kadeploy boot the kernel and initrd themselves: no boot loader to install
  boot.loader.grub.enable = false;
  # Only listed modules enter the initrd (stage-1.nix: modulesClosure of availableKernelModules
  # ++ kernelModules); udev loads them there by modalias (80-drivers.rules) before
  # preLVMCommands, where initrd-network.nix runs udhcpc: "available" is enough for devices.
  boot.initrd.availableKernelModules = [
    # storage
    "ahci"
    "ehci_pci"
    "megaraid_sas"
    "sd_mod"
    "nvme"
    # Grid'5000 NICs: Intel 1/10/40/100 GbE, Mellanox, Broadcom NetXtreme (-C/E)
    "igb"
    "ixgbe"
    "i40e"
    "ice"
    "mlx5_core"
    "bnxt_en"
    "tg3"
    "e1000e"
    # local emulation (QEMU's virtio and e1000e NICs)
    "virtio_pci"
    "virtio_net"
  ];
  # nxc's stage 1 is postMountCommands, which only the scripted initrd runs (the 25.05 default)
  boot.initrd.systemd.enable = lib.mkDefault false;
  boot.initrd.network.enable = true;
  # nxc's stage 1 needs DHCP even if a configuration turns networking.useDHCP off
  # (initrd-network.nix: udhcpc.enable defaults to useDHCP and no systemd initrd)
  boot.initrd.network.udhcpc.enable = lib.mkDefault true;
  # initrd-network.nix defaults this to true with the scripted initrd: a postMountCommands
  # block (default order) flushes and downs every interface, before nxc's selection (mkAfter)
  # and under g5k-nfs-store's store. Stage 2's dhcpcd takes the configured interfaces over.
  boot.initrd.network.flushBeforeStage2 = false;
  # stage 2: dhcpcd on every interface (services/networking/dhcpcd.nix), same lease as stage 1
  networking.useDHCP = lib.mkDefault true;
  # hardware/all-firmware.nix: the NICs' firmware (ice, bnxt_en, mlx5, tg3...), which
  # stage-1.nix also copies into the initrd with the modules that need it
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
