# vm flavour: QEMU guests, root on tmpfs, the host's /nix/store shared read-only over 9p
# (QEMU: -virtfs local,path=/nix/store,mount_tag=nixstore,security_model=none,readonly=on) under
# a writable overlay, with the role systems' closure registered in the node's Nix database, as
# nixpkgs' own VMs do (virtualisation/qemu-vm.nix, writableStore and regInfo).
{ lib, modulesPath, ... }:
{
  imports = [
    "${modulesPath}/profiles/qemu-guest.nix"
    # nxc.reg_info= on the kernel command line, loaded into the Nix database at boot
    ./store-registration.nix
  ];

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
  fileSystems."/nix/.ro-store" = {
    device = "nixstore";
    fsType = "9p";
    options = [
      "trans=virtio"
      "version=9p2000.L"
      # qemu-vm.nix defaults to 16384; the kernel takes up to its virtio transport's maximum
      # (about 500 KiB, larger values are clamped with a warning) and bigger is faster
      "msize=262144"
      "cache=loose"
      "ro"
    ];
    neededForBoot = true;
  };
  # filesystems/overlayfs.nix; the scripted stage 1 creates upperdir and workdir
  fileSystems."/nix/.rw-store" = {
    device = "tmpfs";
    fsType = "tmpfs";
    options = [ "mode=0755" ];
    neededForBoot = true;
  };
  fileSystems."/nix/store" = {
    overlay = {
      lowerdir = [ "/nix/.ro-store" ];
      upperdir = "/nix/.rw-store/upper";
      workdir = "/nix/.rw-store/work";
    };
    neededForBoot = true;
  };

  documentation.enable = lib.mkDefault false;
}
