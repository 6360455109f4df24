# g5k-image flavour: a tarball for Kadeploy (kind tar, gzip) with every role's system in its
# store, /boot/{bzImage,initrd,init} as real files (Kadeploy's deploy environment reads them with
# the partition mounted elsewhere, where links into /nix/store resolve against its own root) and
# a kaenv description; root is whichever partition Kadeploy names with root= (any form).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  boot = config.system.build;
  kernel = "${boot.kernel}/${config.system.boot.loader.kernelFile}";
  initrd = "${boot.initialRamdisk}/${config.system.boot.loader.initrdFile}";
  closure = pkgs.closureInfo { rootPaths = [ boot.toplevel ] ++ config.nxc.roleSystems; };
  fileName = "nxc-g5k-image.tar.gz";
in
{
  imports = [ ./g5k-common.nix ];

  # stage-1-init.sh links /dev/root to the root= device (a path, UUID= or LABEL=); mounting
  # /dev/root takes whatever Kadeploy passed, where a label or UUID fixed here could not.
  fileSystems."/" = {
    device = "/dev/root";
    fsType = "ext4";
  };
  # stage-1-init.sh leaves PARTUUID= and PARTLABEL= as a dangling link: point /dev/root at them
  # (before the mounts, which wait for /dev/root to appear)
  boot.initrd.postDeviceCommands = ''
    for word in $(cat /proc/cmdline); do
      case $word in
        root=PARTUUID=*) ln -sfn "/dev/disk/by-partuuid/''${word#root=PARTUUID=}" /dev/root ;;
        root=PARTLABEL=*) ln -sfn "/dev/disk/by-partlabel/''${word#root=PARTLABEL=}" /dev/root ;;
      esac
    done
    if [ ! -L /dev/root ]; then
      echo "nxc: no root= on the kernel command line: Kadeploy names the deployed partition" >&2
    fi
  '';
  # the image's store paths registered in the node's database at its first boot, as
  # installer/sd-card/sd-image.nix does with the same file (nix-store --load-db)
  boot.postBootCommands = ''
    if [ -f /nix-path-registration ]; then
      ${config.nix.package.out}/bin/nix-store --load-db < /nix-path-registration
      rm /nix-path-registration
    fi
  '';

  system.build.nxcImage =
    pkgs.runCommand "nxc-g5k-image"
      {
        nativeBuildInputs = [
          pkgs.gnutar
          pkgs.gzip
        ];
        passthru = { inherit fileName; };
      }
      ''
        mkdir -p root/boot root/nix/store "$out"
        cp -L ${kernel} root/boot/bzImage
        cp -L ${initrd} root/boot/initrd
        cp -L ${boot.toplevel}/init root/boot/init
        cp ${closure}/registration root/nix-path-registration
        cat > "$out/kaenv.yaml" <<KAENV
        name: nxc
        version: 1
        description: NixOS built by nxc
        os: linux
        visibility: private
        destructive: false
        image:
          file: ${fileName}
          kind: tar
          compression: gzip
        boot:
          kernel: /boot/bzImage
          initrd: /boot/initrd
          kernel_params: init=/boot/init ${toString config.boot.kernelParams}
        filesystem: ext4
        partition_type: 131
        multipart: false
        KAENV
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1 \
          -C root -cf image.tar boot nix-path-registration
        tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1 \
          -rf image.tar $(cat ${closure}/store-paths)
        gzip -9n < image.tar > "$out/${fileName}"
      '';
}
