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
    "${modulesPath}/installer/netboot/netboot.nix"
  ];
  netboot.storeContents = config.nxc.roleSystems;
}
