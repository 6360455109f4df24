# nxc.after and nxc.readiness: roles that wait for roles (docs/compositions.md). Every node has
# nxc-activate.target; a unit the composition wants held back until the roles of nxc.after are
# ready sets `wantedBy = [ "nxc-activate.target" ]`. A role waiting for none has the target
# wanted by multi-user.target (activated at boot); a waiting role's target is started by nxc
# (nxc/activation.py) through the node command `nxc-activate`, once every node of those roles
# passes its nxc.readiness check. compose.nix writes both options into the build manifest.
# Options checked against nixpkgs 25.05: nixos/lib/systemd-unit-options.nix (a target's
# description and wantedBy), system/boot/systemd.nix (systemd.targets, systemd.package),
# config/system-path.nix (environment.systemPackages), misc/assertions.nix.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.nxc;
  # pkgs/build-support/trivial-builders: writeShellScriptBin name text -> $out/bin/name
  activate = pkgs.writeShellScriptBin "nxc-activate" ''
    exec ${config.systemd.package}/bin/systemctl start nxc-activate.target
  '';
  check = lib.mkOption {
    type = lib.types.nullOr lib.types.str;
    default = null;
  };
in
{
  options.nxc.after = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
    example = [ "server" ];
    description = ''
      Roles of the composition whose nodes must all be ready (see nxc.readiness) before the
      units of this role wanted by nxc-activate.target are started. Empty: they start at boot.
    '';
  };

  options.nxc.readiness = {
    unit = check // {
      example = "glusterd.service";
      description = "A systemd unit that is active once a node of this role is ready.";
    };
    command = check // {
      example = "gluster peer status";
      description = "A shell command that exits 0 once a node of this role is ready.";
    };
  };

  config = {
    assertions = [
      {
        assertion = cfg.readiness.unit == null || cfg.readiness.command == null;
        message = "nxc: role '${cfg.role}' sets both nxc.readiness.unit and nxc.readiness.command; keep one of the two";
      }
    ];

    systemd.targets.nxc-activate = {
      description = "nxc: the composition's units that wait for other roles";
      wantedBy = lib.mkIf (cfg.after == [ ]) [ "multi-user.target" ];
    };

    environment.systemPackages = [ activate ];
  };
}
