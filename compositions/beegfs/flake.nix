{
  description = "nxc composition: beegfs servers and clients, for file-system benchmarks";

  inputs = {
    # set by 'nxc init' (the installed nxc, offline) or 'nxc init --nxc-url URL'
    nxc.url = "NXC_URL";
    # the nixpkgs release nxc pins (nixos-25.05): project and library never drift apart
    nixpkgs.follows = "nxc/nixpkgs";
  };

  outputs =
    {
      self,
      nixpkgs,
      nxc,
    }:
    let
      system = "x86_64-linux";
    in
    {
      packages.${system} = nxc.lib.compose {
        inherit nixpkgs system;
        composition = ./composition.nix;
        # BeeGFS is not in nixpkgs: write ./beegfs-overlay.nix (final: prev: { beegfs = ...;
        # beegfsClientModule = kernel: ...; }); see composition.nix
        overlays = if builtins.pathExists ./beegfs-overlay.nix then [ (import ./beegfs-overlay.nix) ] else [ ];
      };
      devShells.${system}.default = nxc.devShells.${system}.nxcShell;
    };
}
