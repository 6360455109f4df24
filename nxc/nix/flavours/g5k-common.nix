# Shared by the Grid'5000 flavours: real hardware, DHCP addresses (nodes find their entry by
# address), network in stage 1 so nxc.info_url can be fetched there.
{ lib, ... }:
{
  boot.loader.grub.enable = false;
  boot.initrd.availableKernelModules = [
    "ahci"
    "ehci_pci"
    "megaraid_sas"
    "sd_mod"
    "nvme"
  ];
  boot.initrd.network.enable = true;
  networking.useDHCP = lib.mkDefault true;
  hardware.enableRedistributableFirmware = lib.mkDefault true;
}
