# g5k-nfs-store flavour: booted by kexec with a small initrd; the frontend's /nix/store, mounted
# read-only over NFSv3 from the kernel parameter nxc.nfs_store=HOST:/nix/store at
# /nix/.ro-store, is the lower layer of a writable overlay on /nix/store (a tmpfs upper), and
# the role systems' closure is registered at boot (store-registration.nix), so `nix` works on
# the nodes as on nixpkgs' own VMs (virtualisation/qemu-vm.nix, writableStore).
{ lib, ... }:
{
  imports = [
    ./g5k-common.nix
    ./store-registration.nix
  ];

  fileSystems."/" = {
    device = "tmpfs";
    fsType = "tmpfs";
    options = [ "mode=0755" ];
  };
  # tasks/filesystems/nfs.nix: the NFS client in the initrd
  boot.initrd.supportedFilesystems = [ "nfs" ];
  # vers=3 is the kernel's nfsv3 module, requested only at mount time: load it (and nfs) up
  # front; overlay for the writable store (stage-1.nix: listed modules enter the initrd)
  boot.initrd.kernelModules = [
    "nfs"
    "nfsv3"
    "overlay"
  ];
  # the store is on the network: dhcpcd must not deconfigure the interfaces when it stops
  # (services/networking/dhcpcd.nix: persistent, "if you have your root or store mounted over
  # the network")
  networking.dhcpcd.persistent = true;
  # Mounted by busybox's mount (stage-1.nix copies busybox, no mount.nfs; without its
  # FEATURE_MOUNT_NFS busybox resolves the server and adds addr= for the kernel's NFS client);
  # before nxc's own stage-1 commands (mkAfter), so that role systems are visible. The
  # overlay is mounted here, not by fileSystems, whose mounts come before postMountCommands.
  boot.initrd.postMountCommands = lib.mkBefore ''
    for word in $(cat /proc/cmdline); do
      case $word in
        nxc.nfs_store=*) nfsStore="''${word#*=}" ;;
      esac
    done
    if [ -z "''${nfsStore:-}" ]; then
      echo "nxc-error: no nxc.nfs_store=HOST:/nix/store on the kernel command line"
    else
      mkdir -p "$targetRoot/nix/.ro-store" "$targetRoot/nix/.rw-store" "$targetRoot/nix/store"
      if ! mount -t nfs -o ro,nolock,vers=3 "$nfsStore" "$targetRoot/nix/.ro-store"; then
        echo "nxc-error: cannot mount the store $nfsStore"
      elif ! mount -t tmpfs -o mode=0755 tmpfs "$targetRoot/nix/.rw-store" \
        || ! mkdir -p "$targetRoot/nix/.rw-store/upper" "$targetRoot/nix/.rw-store/work" \
        || ! mount -t overlay -o "lowerdir=$targetRoot/nix/.ro-store,upperdir=$targetRoot/nix/.rw-store/upper,workdir=$targetRoot/nix/.rw-store/work" \
          overlay "$targetRoot/nix/store"; then
        # the store is still readable: the node boots with it read-only
        echo "nxc-error: no writable overlay on the store; using $nfsStore read-only"
        mount --bind "$targetRoot/nix/.ro-store" "$targetRoot/nix/store"
      fi
    fi
  '';
}
