# nxc.sharedDirs (NixOS-Compose's option, same names and meaning): `"<dir>".export = true` on
# the role that serves a directory, `"<dir>".server = "<role>"` on the roles that mount it.
# The server's address is only known at boot: a unit per mounted directory finds it in the
# deployment info (/run/nxc/info.json: the role's first node, else that hostname) and mounts
# (NFS v4; containers: a folder of the deployment's shared folder, bind-mounted), retrying for
# nxc.sharedDirsMountTimeout seconds, before sshd starts (a node is ready with its shares).
# Options checked against nixpkgs 25.05: services/network-filesystems/nfsd.nix,
# tasks/filesystems/nfs.nix, misc/assertions.nix, system/boot/systemd.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.nxc;
  dirs = builtins.attrNames cfg.sharedDirs;
  exported = builtins.filter (d: cfg.sharedDirs.${d}.export) dirs;
  # a role exporting a directory never mounts it (export wins over a shared `server`)
  mounted = builtins.filter (d: !cfg.sharedDirs.${d}.export && cfg.sharedDirs.${d}.server != "") dirs;
  # containers have no kernel NFS server: the docker flavour shares a folder of its own
  # (boot.isContainer: virtualisation/nixos-containers.nix; docker.nix sets it)
  inContainer = config.boot.isContainer;
  badDirs = builtins.filter (d: builtins.match "/[A-Za-z0-9._/-]*[A-Za-z0-9._-]" d == null) dirs;
  badServers = builtins.filter (d: builtins.match "[A-Za-z0-9._:-]*" cfg.sharedDirs.${d}.server == null) dirs;

  unitName = dir: "nxc-shared-dir${builtins.replaceStrings [ "/" ] [ "-" ] dir}";
  # the homes of nxc.users inside `dir`: created on the share when the server lacks them
  homesIn =
    dir:
    builtins.filter (spec: spec != null) (
      builtins.genList (
        i:
        let
          home = "${cfg.users.prefixHome}/${builtins.elemAt cfg.users.names i}";
          prefix = "${dir}/";
        in
        if builtins.substring 0 (builtins.stringLength prefix) home == prefix then
          "${toString (cfg.users.firstUid + i)}:${home}"
        else
          null
      ) (builtins.length cfg.users.names)
    );

  mountScript = pkgs.writeShellScript "nxc-shared-dir" ''
    set -eu
    export PATH=${
      lib.makeBinPath [
        pkgs.jq
        pkgs.coreutils
        pkgs.util-linux
        pkgs.nfs-utils
      ]
    }
    . ${./node-info.sh}
    . ${./shared-dirs.sh}
  '';
  arguments =
    dir:
    (
      if inContainer then
        [
          "bind"
          dir
          (if cfg.sharedDirs.${dir}.export then "export" else "mount")
        ]
      else
        [
          "nfs"
          dir
          cfg.sharedDirs.${dir}.server
          (toString cfg.sharedDirsMountTimeout)
        ]
    )
    ++ homesIn dir;
  unit = dir: {
    name = unitName dir;
    value = {
      description = "nxc: shared directory ${dir}";
      wantedBy = [
        "multi-user.target"
        "remote-fs.target"
      ];
      after = [
        "nxc-node.service"
        "network.target"
      ];
      before = [
        "remote-fs.target"
        "sshd.service"
      ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = "${mountScript} ${builtins.concatStringsSep " " (arguments dir)}";
        ExecStop = "-${pkgs.util-linux}/bin/umount -l ${dir}";
        # the script gives up after the mount timeout; systemd's limit is only a backstop
        TimeoutStartSec = toString (cfg.sharedDirsMountTimeout + 30);
      };
    };
  };
  # NFS from the containers' side too: the exporter binds its folder like the others
  units = builtins.listToAttrs (map unit (mounted ++ (if inContainer then exported else [ ])));
in
{
  options.nxc = {
    sharedDirs = lib.mkOption {
      type = lib.types.attrsOf (
        lib.types.submodule {
          options = {
            export = lib.mkOption {
              type = lib.types.bool;
              default = false;
              description = "This role's nodes serve the directory (NFS).";
            };
            server = lib.mkOption {
              type = lib.types.str;
              default = "";
              example = "server";
              description = ''
                Role (its first node) or hostname serving the directory; this role's nodes
                mount it at boot. Ignored where `export` is true.
              '';
            };
          };
        }
      );
      default = { };
      example = {
        "/users".export = true;
      };
      description = "Directories exported by one role and mounted by others (NixOS-Compose).";
    };
    sharedDirsMountTimeout = lib.mkOption {
      type = lib.types.int;
      default = 300;
      description = ''
        Seconds a node waits for a shared directory's server before giving up on that
        directory (an `nxc-error:` line on the console; the boot goes on) (nxc).
      '';
    };
  };

  config = lib.mkMerge [
    {
      assertions =
        map (d: {
          assertion = false;
          message = "nxc.sharedDirs.\"${d}\": a shared directory must be an absolute path of letters, digits, '.', '_', '-' and '/' (not ending in '/')";
        }) badDirs
        ++ map (d: {
          assertion = false;
          message = "nxc.sharedDirs.\"${d}\".server = \"${cfg.sharedDirs.${d}.server}\": give a role name, a hostname or an address";
        }) badServers;
      systemd.services = units;
    }
    (lib.mkIf (exported != [ ] && !inContainer) {
      services.nfs.server = {
        enable = true;
        # nfsd.nix: nfs-mountd's preStart creates the exported directories
        createMountPoints = true;
        # fsid: the root is a tmpfs on several flavours, which has no device number to export
        exports = builtins.concatStringsSep "" (
          builtins.genList (
            i:
            "${builtins.elemAt exported i} *(rw,sync,no_subtree_check,no_root_squash,fsid=${toString (i + 1)})\n"
          ) (builtins.length exported)
        );
      };
    })
    (lib.mkIf (mounted != [ ] && !inContainer) {
      # nfs.nix: nfs-utils (mount.nfs) and the NFS client units
      boot.supportedFilesystems = [ "nfs" ];
    })
  ];
}
