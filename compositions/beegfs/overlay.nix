# BeeGFS for this composition (not in nixpkgs since 2019): the daemons and tools, and a function
# from a kernel to its client module. Applied by flake.nix (lib.compose's `overlays`).
final: prev: {
  # upstream ships 7.4 packages for Ubuntu 24.04, built with GCC 13
  beegfs = final.callPackage ./beegfs.nix { stdenv = final.gcc13Stdenv; };
  beegfsClientModule = kernel: final.callPackage ./beegfs-client-module.nix { inherit kernel; };
}
