# g5k-nfs-store flavour: booted by kexec with a small initrd; /nix/store is the frontend's,
# mounted read-only over NFSv3 from the kernel parameter nxc.nfs_store=HOST:/nix/store.
{ lib, ... }:
{
  imports = [ ./g5k-common.nix ];

  fileSystems."/" = {
    device = "tmpfs";
    fsType = "tmpfs";
    options = [ "mode=0755" ];
  };
  boot.initrd.supportedFilesystems = [ "nfs" ];
  # vers=3 is the kernel's nfsv3 module, requested only at mount time: load it (and nfs) up front
  boot.initrd.kernelModules = [
    "nfs"
    "nfsv3"
  ];
  # the store is on the network: dhcpcd must not deconfigure the interfaces when it stops
  # (dhcpcd.nix: persistent, "if you have your root or store mounted over the network")
  networking.dhcpcd.persistent = true;
  # Mounted by busybox's mount (stage-1.nix copies busybox, no mount.nfs; busybox resolves the
  # server and adds addr= for the kernel's NFS client); before nxc's own stage-1 commands
  # (mkAfter), so that role systems are visible
  boot.initrd.postMountCommands = lib.mkBefore ''
    for word in $(cat /proc/cmdline); do
      case $word in
        nxc.nfs_store=*) nfsStore="''${word#*=}" ;;
      esac
    done
    if [ -n "''${nfsStore:-}" ]; then
      mkdir -p "$targetRoot/nix/store"
      mount -t nfs -o ro,nolock,vers=3 "$nfsStore" "$targetRoot/nix/store" \
        || echo "nxc-error: cannot mount the store $nfsStore"
    else
      echo "nxc-error: no nxc.nfs_store=HOST:/nix/store on the kernel command line"
    fi
  '';
}
