# NUR for compositions, as NixOS-Compose offers it: `lib.nur { nixpkgs; system; NUR;
# repoOverrides; }`, or `NUR` and `repoOverrides` given to `lib.compose` directly.
#   repos.<name>     every NUR repo evaluated with nixpkgs (for `repos.<name>.modules.*`)
#   overlay          adds `pkgs.nur.repos.<name>.<package>`, built with the overlaid pkgs
#   reposFor pkgs    the repos evaluated with another package set
# `repoOverrides.<name>` is a path to a repo's sources (a local clone, another flake input),
# imported as NUR imports its repos: `import path { inherit pkgs; }`. Overrides are merged
# over NUR's own list here rather than handed to NUR, whose `repoOverrides` argument changed
# meaning between NUR releases.
{
  NUR,
  repoOverrides ? { },
  nixpkgs ? null,
  system ? "x86_64-linux",
  ...
}:
let
  reposFor =
    pkgs:
    (import NUR {
      nurpkgs = pkgs;
      inherit pkgs;
    }).repos
    // builtins.mapAttrs (_: source: import source { inherit pkgs; }) repoOverrides;
in
{
  inherit reposFor;
  repos =
    if nixpkgs == null then
      throw "nxc: lib.nur needs `nixpkgs` for `repos` (e.g. `inherit nixpkgs system NUR;`)"
    else
      reposFor (import nixpkgs { inherit system; });
  overlay = final: prev: { nur.repos = reposFor prev; };
}
