# Helpers handed to compositions as `helpers` (nixpkgs-free, like NixOS-Compose's).
{
  # makeMany base "node" 3 -> { node1 = base; node2 = base; node3 = base; }
  makeMany =
    base: prefix: count:
    builtins.listToAttrs (
      builtins.genList (i: {
        name = "${prefix}${toString (i + 1)}";
        value = base;
      }) count
    );

  # makeManyById (id: module) "node" 3 -> { node1 = f 1; ... }
  makeManyById =
    f: prefix: count:
    builtins.listToAttrs (
      builtins.genList (i: {
        name = "${prefix}${toString (i + 1)}";
        value = f (i + 1);
      }) count
    );
}
