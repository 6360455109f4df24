# g5k-nfs-store flavour: booted by kexec with a small initrd; /nix/store is the frontend's,
# mounted read-only over NFS from the kernel parameter nxc.nfs_store=HOST:/nix/store.
{ lib, ... }:
{
  imports = [ ./g5k-common.nix ];

  fileSystems."/" = {
    device = "tmpfs";
    fsType = "tmpfs";
    options = [ "mode=0755" ];
  };
  boot.initrd.supportedFilesystems = [ "nfs" ];
  boot.initrd.kernelModules = [ "nfs" ];
  # before nxc's own stage-1 commands (mkAfter), so that role systems are visible
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
