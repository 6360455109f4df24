# Shared by the flavours whose nodes' store is another machine's (vm: the host's over 9p;
# g5k-nfs-store: the frontend's over NFS) under a writable overlay: the role systems' closure
# is registered in each node's Nix database at boot, so `nix` works there. Not a flavour.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  # Only the boot system carries the role systems; the path reaches each node's role system on
  # the kernel command line (the way virtualisation/qemu-vm.nix passes regInfo=, which avoids a
  # cycle: a system cannot hold its own closure's registration).
  registration = pkgs.closureInfo { rootPaths = config.nxc.roleSystems; };
in
{
  boot.kernelParams = lib.mkIf (config.nxc.roleSystems != [ ]) [
    "nxc.reg_info=${registration}/registration"
  ];
  # system/boot/stage-2.nix runs postBootCommands before systemd starts
  boot.postBootCommands = lib.mkIf config.nix.enable ''
    for word in $(cat /proc/cmdline); do
      case $word in
        nxc.reg_info=*) ${config.nix.package.out}/bin/nix-store --load-db < "''${word#nxc.reg_info=}" ;;
      esac
    done
  '';
}
