# vm flavour: QEMU guests, root on tmpfs, the host's /nix/store shared read-only over 9p
# (QEMU: -virtfs local,path=/nix/store,mount_tag=nixstore,security_model=none,readonly=on).
{
  lib,
  modulesPath,
  ...
}:
{
  imports = [ "${modulesPath}/profiles/qemu-guest.nix" ];

  boot.loader.grub.enable = false;
  # deployment info and host key arrive as fw_cfg files (opt/nxc/info, opt/nxc/host_key)
  boot.initrd.kernelModules = [
    "qemu_fw_cfg"
    "9p"
    "9pnet_virtio"
  ];
  boot.initrd.availableKernelModules = [
    "9p"
    "9pnet_virtio"
    "virtio_pci"
    "virtio_net"
    "virtio_blk"
  ];

  fileSystems."/" = {
    device = "tmpfs";
    fsType = "tmpfs";
    options = [ "mode=0755" ];
  };
  fileSystems."/nix/store" = {
    device = "nixstore";
    fsType = "9p";
    options = [
      "trans=virtio"
      "version=9p2000.L"
      "msize=262144"
      "cache=loose"
      "ro"
    ];
    neededForBoot = true;
  };

  documentation.enable = lib.mkDefault false;
}
