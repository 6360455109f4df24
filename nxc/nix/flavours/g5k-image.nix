# g5k-image flavour: a tarball for Kadeploy (kind tar, gzip) with every role's system in its
# store, /boot/{bzImage,initrd,init} links and a kaenv description; root is the partition
# Kadeploy passes as root=UUID=..., labelled "nixos" in stage 1.
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

  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  boot.initrd.extraUtilsCommands = ''
    copy_bin_and_libs ${pkgs.e2fsprogs}/bin/e2label
  '';
  boot.initrd.postDeviceCommands = ''
    for word in $(cat /proc/cmdline); do
      case $word in
        root=UUID=*) e2label "/dev/disk/by-uuid/''${word#root=UUID=}" nixos ;;
      esac
    done
  '';
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
        ln -s ${kernel} root/boot/bzImage
        ln -s ${initrd} root/boot/initrd
        ln -s ${boot.toplevel}/init root/boot/init
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
