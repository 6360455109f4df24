# The flavours nxc knows: name -> { name, description, produces, all_in_one }.
# flavours.json is the single source, also read by the Python side.
let
  table = builtins.fromJSON (builtins.readFile ./flavours.json);
in
builtins.mapAttrs (name: meta: meta // { inherit name; }) table
