# The definitions nxc's own modules make for a few NixOS options, read by real Nix without
# nixpkgs (which cannot be fetched here): the boot system of an all-in-one flavour is
# modules/base.nix + flavours/<flavour>.nix and what they import. `lib` is a stand-in that
# keeps mkIf/mkBefore/mkAfter/mkDefault/mkForce as tags, so each definition comes out with
# its condition, order and priority. Modules imported from nixpkgs (modulesPath) are listed,
# not read: the `nixos`-marked tests evaluate them for real.
#
#   nix-instantiate --eval --strict --json tests/nix/flavour_definitions.nix \
#     --arg library ./nxc/nix --argstr flavour g5k-ramdisk \
#     --arg options '[ "boot.initrd.network.flushBeforeStage2" ]'
{
  library,
  flavour,
  options,
}:
let
  tag =
    type: attrs: content:
    attrs
    // {
      _type = type;
      inherit content;
    };
  lib = rec {
    mkIf = condition: tag "if" { inherit condition; };
    mkOrder = order: tag "order" { inherit order; };
    mkBefore = mkOrder 500;
    mkAfter = mkOrder 1500;
    mkOverride = priority: tag "override" { inherit priority; };
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    mkOption = option: option;
    types = {
      str = "str";
      bool = "bool";
      package = "package";
      listOf = type: "listOf ${type}";
    };
    makeBinPath = _: "";
    trivial.release = "25.05";
  };
  modulesPath = "/nixpkgs/nixos/modules";
  args = {
    inherit lib modulesPath;
    pkgs = { };
    config.nxc = {
      role = "";
      roleSystems = [ ];
      stage1Selection = true;
    };
  };
  load =
    file:
    let
      module = import file;
    in
    if builtins.isFunction module then module args else module;
  walk =
    file:
    let
      module = load file;
      imports = module.imports or [ ];
    in
    [
      {
        file = toString file;
        inherit module;
      }
    ]
    ++ builtins.concatMap walk (builtins.filter builtins.isPath imports);
  modules = walk (library + "/modules/base.nix") ++ walk (library + "/flavours/${flavour}.nix");
  external = builtins.concatMap (
    entry: builtins.filter (i: !(builtins.isPath i)) (entry.module.imports or [ ])
  ) modules;
  body =
    module:
    if module ? config || module ? options then
      module.config or { }
    else
      removeAttrs module [ "imports" ];
  lookup =
    path: attrs:
    builtins.foldl' (
      found: name: if found != null && builtins.isAttrs found && found ? ${name} then found.${name} else null
    ) attrs path;
  describe =
    definition:
    if builtins.isAttrs definition && definition ? _type then
      describe definition.content
      // removeAttrs definition [
        "_type"
        "content"
      ]
    else
      { value = definition; };
  definitionsOf =
    option:
    let
      path = builtins.filter builtins.isString (builtins.split "\\." option);
    in
    builtins.concatMap (
      entry:
      let
        found = lookup path (body entry.module);
      in
      if found == null then [ ] else [ (describe found // { inherit (entry) file; }) ]
    ) modules;
in
{
  imports = map toString external;
  definitions = builtins.listToAttrs (
    map (option: {
      name = option;
      value = definitionsOf option;
    }) options
  );
}
