# setup.toml handling (nixpkgs-free), compatible with NixOS-Compose's:
#   [project] selected = "variant"   default variant
#   [params] ...                     parameters seen by the composition as setup.params
#   [<variant>.params] ...           a variant's parameters, merged over [params]
#   [build.<pkg>] / [build.nur.repos.<repo>.<pkg>]   package changes, as overlays (below):
#       src = "/local/path" | { <fetcher> = { ... }; }   overrideAttrs of src
#       attrs = { ... }                  overrideAttrs    args = { ... }   override
#       deps = { arg = "attr.path" }     override with packages of the set
#   [overrides.<pkg>] / [overrides.nur.<repo>.<pkg>]  overrideAttrs (src as above)
#   [options] / [<variant>.options]  read by the nxc CLI, not here (nxc/setup_options.py:
#                                    nix-flags, kernel-params, flavour, composition-flavour...)
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
    "build"
    "params"
    "options"
    "overrides"
    "override-params"
  ];
  variants = builtins.filter (n: !(builtins.elem n reserved) && builtins.isAttrs raw.${n}) (
    builtins.attrNames raw
  );

  # "" names no variant (NixOS-Compose writes `selected = ""` when none is chosen)
  chosen =
    if (overrides.variant or null) != null then overrides.variant else raw.project.selected or null;
  variant = if chosen == "" then null else chosen;

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

  # Package changes become overlays, applied after NUR's (they may change pkgs.nur.repos).
  names = builtins.attrNames;
  sourceOf =
    pkgs: where: src:
    if builtins.isString src then
      /. + src
    else if builtins.isAttrs src && builtins.length (names src) == 1 then
      pkgs.${builtins.head (names src)} src.${builtins.head (names src)}
    else
      throw "nxc: setup.toml ${where}.src must be a path or { <fetcher> = { ... }; }, e.g. src.fetchurl = { url = ...; hash = ...; }";
  attrPath =
    pkgs: path:
    builtins.foldl' (set: name: set.${name}) pkgs (
      builtins.filter builtins.isString (builtins.split "\\." path)
    );
  withSource =
    pkgs: where: attrs:
    attrs // (if attrs ? src then { src = sourceOf pkgs where attrs.src; } else { });
  buildOperation =
    pkgs: where: operations: drv: operation:
    let
      value = operations.${operation};
    in
    if operation == "src" then
      drv.overrideAttrs (_: { src = sourceOf pkgs where value; })
    else if operation == "attrs" then
      drv.overrideAttrs (_: value)
    else if operation == "args" then
      drv.override value
    else if operation == "deps" then
      drv.override (builtins.mapAttrs (_: attrPath pkgs) value)
    else
      throw "nxc: setup.toml ${where}: unknown build operation '${operation}'; use src, attrs, args or deps";
  built =
    where: operations: pkgs: drv:
    builtins.foldl' (buildOperation pkgs where operations) drv (names operations);
  overridden =
    where: attrs: pkgs: drv:
    drv.overrideAttrs (_: withSource pkgs where attrs);

  packageOverlay =
    name: change: final: prev:
    {
      ${name} = change prev prev.${name};
    };
  nurOverlay =
    repo: name: change: final: prev:
    {
      nur = prev.nur // {
        repos = prev.nur.repos // {
          ${repo} = prev.nur.repos.${repo} // {
            ${name} = change prev prev.nur.repos.${repo}.${name};
          };
        };
      };
    };
  overlaysOf =
    section: change: nurRepos:
    let
      table = selected.${section} or { };
      plain = builtins.filter (n: n != "nur") (names table);
      nurTable = nurRepos (table.nur or { });
    in
    map (name: packageOverlay name (change "[${section}.${name}]" table.${name})) plain
    ++ builtins.concatMap (
      repo:
      map (
        name: nurOverlay repo name (change "[${section}.nur.${repo}.${name}]" nurTable.${repo}.${name})
      ) (names nurTable.${repo})
    ) (names nurTable);
  packageOverlays =
    overlaysOf "build" built (nur: nur.repos or { })
    ++ overlaysOf "overrides" overridden (nur: nur);
in
selected
// {
  inherit params variant variants;
  # NixOS-Compose's setup always has project.selected ("" when no variant is chosen)
  project = (selected.project or { }) // {
    selected = if variant == null then "" else variant;
  };
  overlays = (selected.overlays or [ ]) ++ packageOverlays;
}
