# g5k-ramdisk flavour: booted by kexec; the store of every role rides in the initrd as a
# squashfs (nixpkgs' netboot module builds system.build.netbootRamdisk from netboot.storeContents).
{
  config,
  modulesPath,
  ...
}:
{
  imports = [
    ./g5k-common.nix
    # installer/netboot/netboot.nix: / is a tmpfs, /nix/store an overlay over the squashfs
    # /nix-store.squashfs appended to the initrd; stage 2 loads its nix-path-registration
    "${modulesPath}/installer/netboot/netboot.nix"
  ];
  # merged with netboot.nix's own [ toplevel ]: the boot system and every role's system
  netboot.storeContents = config.nxc.roleSystems;
}
