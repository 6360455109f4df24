# BeeGFS' package files (compositions/beegfs), evaluated without nixpkgs (for
# tests/bench/test_compositions.py): stdenv.mkDerivation and fetchurl return their arguments,
# kernels are attribute sets with the fields the module reads. Gives, as JSON, what the
# overlay defines, the package's source and build settings, the client module's settings for a
# 6.6 and a 6.12 kernel, and what common.nix sets (its licence predicate applied to names).
{ folder }:
let
  lib = {
    licenses = {
      unfree = "unfree";
      gpl2Only = "gpl2Only";
    };
    versionAtLeast = a: b: builtins.compareVersions a b >= 0;
    getName = drv: drv.pname;
  };
  stdenv = {
    mkDerivation = attrs: attrs;
  };
  stand = {
    inherit lib stdenv;
    fetchurl = args: args;
    runtimeShell = "/nix/store/00000000000000000000000000000000-bash/bin/bash";
  }
  // builtins.listToAttrs (
    map (name: {
      inherit name;
      value = "/nix/store/00000000000000000000000000000000-${name}";
    }) [ "pkg-config" "which" "curl" "zlib" "libnl" "util-linux" "rdma-core" ]
  );
  callWith =
    file: extra:
    let
      f = import file;
    in
    f (builtins.intersectAttrs (builtins.functionArgs f) (stand // extra));
  beegfs = callWith (folder + "/beegfs.nix") { };
  kernel = version: {
    inherit version;
    modDirVersion = version;
    dev = "/nix/store/00000000000000000000000000000000-linux-${version}-dev";
    moduleBuildDependencies = [ ];
  };
  module = version: callWith (folder + "/beegfs-client-module.nix") {
    inherit beegfs;
    kernel = kernel version;
  };
  overlay = import (folder + "/overlay.nix") {
    callPackage = file: args: { inherit file args; };
    gcc13Stdenv = "gcc13Stdenv";
  } { };
  common = import (folder + "/common.nix") {
    inherit lib;
    pkgs.linuxKernel.packages.linux_6_6 = "linux_6_6";
  };
  pick = attrs: names: builtins.intersectAttrs (builtins.listToAttrs (map (n: { name = n; value = null; }) names)) attrs;
in
{
  overlay = {
    names = builtins.attrNames overlay;
    beegfsFile = baseNameOf overlay.beegfs.file;
    beegfsStdenv = overlay.beegfs.args.stdenv;
    moduleFile = baseNameOf (overlay.beegfsClientModule "k").file;
  };
  package = pick beegfs [ "pname" "version" "src" "makeFlags" "buildFlags" "installPhase" ] // {
    license = beegfs.meta.license;
  };
  clientModule = {
    "6.6.50" = pick (module "6.6.50") [ "version" "makeFlags" "installPhase" ] // {
      inherit ((module "6.6.50").meta) broken;
      sameSource = (module "6.6.50").src == beegfs.src;
    };
    "6.12.30".broken = (module "6.12.30").meta.broken;
  };
  common = {
    kernelPackages = common.boot.kernelPackages;
    unfreeAllowed = map (pname: common.nixpkgs.config.allowUnfreePredicate { inherit pname; }) [ "beegfs" "other" ];
  };
}
