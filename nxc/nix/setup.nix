# setup.toml handling (nixpkgs-free), compatible with NixOS-Compose's:
#   [project] selected = "variant"   default variant
#   [params] ...                     parameters seen by the composition as setup.params
#   [<variant>.params] ...           a variant's parameters, merged over [params]
# Command-line choices (`nxc build -s VARIANT -p key=value`) arrive as `overrides`
# { variant ? null; params ? {}; } and win over the file; the user's files are never rewritten.
{ setup, overrides }:
let
  raw =
    if setup == null then
      { }
    else if builtins.isAttrs setup then
      setup
    else
      builtins.fromTOML (builtins.readFile setup);

  recursiveMerge =
    a: b:
    a
    // builtins.mapAttrs (
      name: value:
      if builtins.isAttrs value && builtins.isAttrs (a.${name} or null) then
        recursiveMerge a.${name} value
      else
        value
    ) b;

  reserved = [
    "project"
    "params"
    "options"
    "overrides"
    "override-params"
  ];
  variants = builtins.filter (n: !(builtins.elem n reserved) && builtins.isAttrs raw.${n}) (
    builtins.attrNames raw
  );

  variant =
    if (overrides.variant or null) != null then overrides.variant else raw.project.selected or null;

  selected =
    if variant == null then
      raw
    else if builtins.elem variant variants then
      recursiveMerge raw raw.${variant}
    else
      throw "nxc: setup variant '${variant}' is not in setup.toml (variants: ${
        builtins.concatStringsSep ", " variants
      }); pick one with -s VARIANT";

  params = (selected.params or { }) // (selected."override-params" or { }) // (overrides.params or { });
in
selected
// {
  inherit params variant variants;
}
