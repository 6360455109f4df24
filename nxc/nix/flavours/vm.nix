# vm flavour: QEMU guests, root on tmpfs, the host's /nix/store shared read-only over 9p
# (QEMU: -virtfs local,path=/nix/store,mount_tag=nixstore,security_model=none,readonly=on) under
# a writable overlay, with the role systems' closure registered in the node's Nix database, as
# nixpkgs' own VMs do (virtualisation/qemu-vm.nix, writableStore and regInfo).
{
  config,
  lib,
  pkgs,
  modulesPath,
  ...
}:
let
  # Only the boot system carries the role systems; the path reaches each node's role system on
  # the kernel command line (the way qemu-vm.nix passes regInfo=, which avoids a cycle).
  registration = pkgs.closureInfo { rootPaths = config.nxc.roleSystems; };
in
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

  boot.kernelParams = lib.mkIf (config.nxc.roleSystems != [ ]) [
    "nxc.reg_info=${registration}/registration"
  ];
  boot.postBootCommands = lib.mkIf config.nix.enable ''
    for word in $(cat /proc/cmdline); do
      case $word in
        nxc.reg_info=*) ${config.nix.package.out}/bin/nix-store --load-db < "''${word#nxc.reg_info=}" ;;
      esac
    done
  '';

  documentation.enable = lib.mkDefault false;
}
