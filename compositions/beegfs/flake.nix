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
        # BeeGFS is not in nixpkgs: packaged here
        overlays = [ (import ./overlay.nix) ];
        # every system, the boot system included: Linux 6.6 and the BeeGFS licence
        extraConfigurations = [ ./common.nix ];
      };
      devShells.${system}.default = nxc.devShells.${system}.nxcShell;
    };
}
