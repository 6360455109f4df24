# The BeeGFS 7.4.6 client kernel module (client_module/build/Makefile of the same source as
# beegfs.nix), built against `kernel`: KDIR is the kernel's build tree in its dev output,
# KRELEASE its module directory version; without RDMA (BEEGFS_NO_RDMA, no OFED here).
# The composition boots Linux 6.6: 7.4.6 supports kernels up to 6.11.
{
  lib,
  stdenv,
  kernel,
  beegfs,
}:
stdenv.mkDerivation {
  pname = "beegfs-client-module";
  version = "${beegfs.version}-${kernel.version}";
  inherit (beegfs) src postPatch;

  nativeBuildInputs = kernel.moduleBuildDependencies;
  hardeningDisable = [
    "pic"
    "format"
  ];

  preBuild = "cd client_module/build";
  makeFlags = [
    "KDIR=${kernel.dev}/lib/modules/${kernel.modDirVersion}/build"
    "KRELEASE=${kernel.modDirVersion}"
    "BEEGFS_NO_RDMA=1"
    "BEEGFS_VERSION=${beegfs.version}"
  ];

  installPhase = ''
    runHook preInstall
    install -Dm644 beegfs.ko $out/lib/modules/${kernel.modDirVersion}/extra/beegfs.ko
    runHook postInstall
  '';

  meta = {
    description = "BeeGFS client kernel module for Linux ${kernel.version}";
    license = lib.licenses.gpl2Only;
    platforms = [ "x86_64-linux" ];
    broken = lib.versionAtLeast kernel.version "6.12";
  };
}
