# Every system of the composition, the all-in-one flavours' boot system included (flake.nix:
# lib.compose's extraConfigurations), so that every node boots the kernel the client module is
# built for.
{ lib, pkgs, ... }:
{
  # BeeGFS 7.4.6's client module supports kernels up to 6.11; nixos-25.05's default is 6.12.
  # linuxKernel.packages.linux_6_6 (LTS): pkgs/top-level/linux-kernels.nix (vanillaPackages)
  boot.kernelPackages = pkgs.linuxKernel.packages.linux_6_6;
  # the BeeGFS daemons are under the BeeGFS EULA: allow that one package (nixos/modules/misc/
  # nixpkgs.nix: nixpkgs.config, merged; allowUnfreePredicate is read by pkgs/stdenv/generic/
  # check-meta.nix)
  nixpkgs.config.allowUnfreePredicate = pkg: builtins.elem (lib.getName pkg) [ "beegfs" ];
}
