# The library as exposed by a flake: `import ./lib.nix { seamFor = ...; }`.
{ seamFor }:
{
  compose = import ./compose.nix seamFor;
  flavours = import ./flavours.nix;
  helpers = import ./helpers.nix;
  nur = import ./nur.nix;
  inherit (import ./helpers.nix) makeMany makeManyById;
}
