# What a composition declares, evaluated without nixpkgs (for tests/bench/test_compositions.py).
#
# Stands in for nixpkgs (and, for BeeGFS, the composition's overlay): `pkgs` holds placeholder
# derivations for the packages the compositions name; the real library (nxc/nix/lib.nix) runs
# with a seam whose role "systems" are placeholder paths. Gives, as JSON:
#   manifest     the library's manifest (roles, default counts, test script)
#   options      role -> option paths the role module (and what it imports) sets (descending
#                into attribute sets)
#   assertions   role -> [ { assertion, message } ] (the role's NixOS assertions)
{
  repo,
  composition,
  packages ? [ ],
}:
let
  fakeDrv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    # a second output, as `pkgs.ceph.lib`
    lib = fakeDrv "${name}-lib";
  };
  pkgs =
    builtins.listToAttrs (
      map (name: {
        inherit name;
        value = fakeDrv name;
      }) packages
    )
    // {
      writeText = name: _text: fakeDrv name;
    }
    // (if builtins.elem "beegfs" packages then { beegfsClientModule = kernel: fakeDrv "beegfs-module"; } else { });
  moduleArgs = {
    inherit pkgs;
    lib = { };
    config.boot.kernelPackages.kernel = fakeDrv "linux";
    modulesPath = "/stub-modules";
  };
  seamFor = _: {
    inherit pkgs;
    lib = { };
    modulesPath = "/stub-modules";
    evalRole = { roleName, ... }: { system = "/nix/store/00000000000000000000000000000000-role-${roleName}"; };
    artefacts = _: { };
    mkManifest = { name, json }: { inherit name json; };
  };
  library = import (repo + "/nxc/nix/lib.nix") { inherit seamFor; };
  outputs = library.compose {
    inherit composition;
    flavours = [ "vm" ];
  };
  body = import composition {
    inherit pkgs;
    lib = { };
    system = "x86_64-linux";
    flavour = { name = "vm"; };
    setup = { };
    nur = null;
    helpers = { };
    modulesPath = "/stub-modules";
  };
  isLeaf = value: !(builtins.isAttrs value) || (value.type or null) == "derivation";
  paths =
    prefix: value:
    if isLeaf value then
      [ (builtins.concatStringsSep "." prefix) ]
    else
      builtins.concatLists (builtins.attrValues (builtins.mapAttrs (key: paths (prefix ++ [ key ])) value));
  # a role module and the modules it imports, each called with the stand-in arguments
  expand =
    module:
    let
      config = if builtins.isFunction module then module moduleArgs else module;
    in
    [ (removeAttrs config [ "imports" ]) ] ++ builtins.concatMap expand (config.imports or [ ]);
  evaluated = builtins.mapAttrs (_: expand) body.roles;
in
{
  manifest = builtins.fromJSON outputs."composition::vm".json;
  options = builtins.mapAttrs (
    _: configs: builtins.concatMap (config: paths [ ] (removeAttrs config [ "assertions" ])) configs
  ) evaluated;
  assertions = builtins.mapAttrs (
    _: configs: builtins.concatMap (config: config.assertions or [ ]) configs
  ) evaluated;
}
