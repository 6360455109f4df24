# nxc's base module, part of every role's NixOS system: the node boot contract
# (docs/node-contract.md). Option names checked against nixpkgs 25.05's sources.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.nxc;
  nodeInfo = ./node-info.sh;

  # Stage 2 (and containers): apply what stage 1 (or the script itself) found.
  nodeSetup = pkgs.writeShellScript "nxc-node-setup" ''
    set -eu
    export PATH=${
      lib.makeBinPath [
        pkgs.jq
        pkgs.iproute2
        pkgs.coreutils
        pkgs.gnugrep
        pkgs.curl
        pkgs.openssh
        pkgs.util-linux
        pkgs.nettools
      ]
    }
    export NXC_NODE_INFO=${nodeInfo}
    . ${./node-setup.sh}
  '';
  # nxc start --add / nxc stop --node: the new nodes list, pushed to every running node
  # (docs/elastic.md); on PATH, as the frontend calls it by name.
  hostsUpdate = pkgs.writeShellScriptBin "nxc-hosts-update" ''
    set -eu
    export PATH=${
      lib.makeBinPath [
        pkgs.jq
        pkgs.coreutils
        config.systemd.package
      ]
    }
    export NXC_NODE_INFO=${nodeInfo}
    . ${./hosts-update.sh} "$@"
  '';
in
{
  options.nxc = {
    role = lib.mkOption {
      type = lib.types.str;
      default = "";
      description = "Role this system is built for (empty for the all-in-one boot system).";
    };
    roleSystems = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      description = "Every role's system; all-in-one images carry them in their store.";
    };
    stage1Selection = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Read the deployment info in stage 1 and boot the node's role system.";
    };
  };

  config = {
    # Hostname, addresses and /etc/hosts come from the deployment info at boot; an empty name
    # is NixOS' "set at run time" (tasks/network-interfaces.nix), nxc-node sets it.
    networking.hostName = lib.mkDefault "";
    # a mode other than "symlink" makes /etc/hosts a copy nxc-node can rewrite (system/etc/etc.nix)
    environment.etc.hosts.mode = "0644";
    networking.firewall.enable = lib.mkDefault false;

    services.openssh = {
      enable = true;
      # root logs in with keys only: NixOS' default PermitRootLogin "prohibit-password"
      # only the per-node key delivered at boot; nothing generated into or baked in images
      # (services/networking/ssh/sshd.nix generates missing hostKeys before sshd starts:
      # nxc-node installs the delivered one first)
      hostKeys = [
        {
          path = "/etc/ssh/ssh_host_ed25519_key";
          type = "ed25519";
        }
      ];
      # sshd.nix: added to AuthorizedKeysFile, next to ~/.ssh/authorized_keys
      authorizedKeysFiles = [ "/run/nxc/authorized_keys" ];
    };

    # stage-1-init.sh takes the last console= for its messages and rescue shell: the serial port
    boot.kernelParams = [
      "console=tty0"
      "console=ttyS0,115200"
    ];

    # stage-1.nix: extraUtilsCommands add programs (and their libraries) to stage 1's /bin
    boot.initrd.extraUtilsCommands = lib.mkIf cfg.stage1Selection ''
      copy_bin_and_libs ${pkgs.jq}/bin/jq
    '';
    # stage-1-init.sh runs these after mounting the file systems and then execs
    # "$targetRoot/$stage2Init": point it at this node's role system. The script is inlined:
    # the store is not at /nix/store yet. mkAfter: after every file system and the flavours' own
    # mounts (g5k-nfs-store's store is mkBefore). It needs the network stage 1 brought up, so the
    # flavours turn off initrd-network.nix's flushBeforeStage2 (a default-order block here).
    boot.initrd.postMountCommands = lib.mkIf cfg.stage1Selection (
      lib.mkAfter ''
        ${builtins.readFile nodeInfo}
        if nxc_find_info && nxc_find_self; then
          if [ -n "$NXC_SYSTEM" ] && [ -e "$targetRoot/$NXC_SYSTEM/init" ]; then
            stage2Init="$NXC_SYSTEM/init"
          elif [ -n "$NXC_SYSTEM" ]; then
            nxc_error "role system $NXC_SYSTEM is not in this node's store"
          fi
        fi
      ''
    );

    systemd.services.nxc-node = {
      description = "nxc: apply this node's deployment info (address, hostname, keys)";
      wantedBy = [ "multi-user.target" ];
      before = [
        "sshd.service"
        "sshd-keygen.service"
        "network.target"
      ];
      after = [ "network-pre.target" ];
      unitConfig.DefaultDependencies = false;
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
        ExecStart = nodeSetup;
      };
    };

    environment.systemPackages = [ hostsUpdate ];

    # Started by nxc-hosts-update each time nodes join or leave: a oneshot without
    # RemainAfterExit, so every start runs it, and with it the units it wants (a unit with
    # wantedBy = [ "nxc-hosts-changed.service" ] reconfigures on each change).
    systemd.services.nxc-hosts-changed = {
      description = "nxc: the deployment's nodes changed (/etc/hosts, /etc/nxc rewritten)";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${pkgs.coreutils}/bin/true";
      };
    };

    systemd.services.nxc-ready = {
      description = "nxc: announce that this node is ready";
      wantedBy = [ "multi-user.target" ];
      after = [
        "sshd.service"
        "nxc-node.service"
      ];
      requires = [ "sshd.service" ];
      serviceConfig.Type = "oneshot";
      script = ''
        line="nxc-ready $(cat /run/nxc/hostname 2>/dev/null || ${pkgs.nettools}/bin/hostname)"
        for console in /dev/console /dev/ttyS0; do
          [ -w "$console" ] && echo "$line" > "$console" || true
        done
        echo "$line"
      '';
    };

    system.stateVersion = lib.mkDefault lib.trivial.release;
  };
}
