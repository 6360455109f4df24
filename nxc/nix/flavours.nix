# The flavours nxc knows: name -> { name, description, produces, all_in_one, implementation,
# options }. flavours.json is the one table, also read by the Python side
# (nxc/flavours/registry.py: `implementation` is the Python class, `options` the nxc start
# option groups it takes); Nix uses description, produces and all_in_one.
let
  table = builtins.fromJSON (builtins.readFile ./flavours.json);
in
builtins.mapAttrs (name: meta: meta // { inherit name; }) table
