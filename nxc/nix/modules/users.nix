# nxc.users (NixOS-Compose's option, same names and meaning): normal users with a home on every
# node of the roles that set it. nxc gives each name a fixed uid (firstUid, firstUid + 1, ...) so a
# user owns the same files on every node and on shared directories (nxc.sharedDirs, NFS).
# Options checked against nixpkgs 25.05's nixos/modules/config/users-groups.nix.
{ config, lib, ... }:
let
  cfg = config.nxc.users;
  account = index: name: {
    inherit name;
    value = {
      # isNormalUser: uid range >= 1000, the default shell; home and group are set here
      isNormalUser = true;
      uid = cfg.firstUid + index;
      group = "users";
      inherit (cfg) extraGroups;
      home = "${cfg.prefixHome}/${name}";
      createHome = true;
    };
  };
in
{
  options.nxc.users = {
    names = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [
        "user1"
        "user2"
      ];
      description = "Names of the users to create on this role's nodes (NixOS-Compose).";
    };
    prefixHome = lib.mkOption {
      type = lib.types.str;
      default = "/home";
      example = "/users";
      description = "Folder holding the users' homes, `<prefixHome>/<name>` (NixOS-Compose).";
    };
    firstUid = lib.mkOption {
      type = lib.types.int;
      default = 1000;
      description = ''
        uid of the first name; the next names get the following uids, the same on every node
        (nxc; NixOS-Compose let NixOS pick them).
      '';
    };
    extraGroups = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      example = [ "wheel" ];
      description = "Supplementary groups of every user of `names` (nxc).";
    };
  };

  config = lib.mkIf (cfg.names != [ ]) {
    users.users = builtins.listToAttrs (
      builtins.genList (i: account i (builtins.elemAt cfg.names i)) (builtins.length cfg.names)
    );
  };
}
