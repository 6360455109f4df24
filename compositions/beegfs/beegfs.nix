# BeeGFS 7.4.6 daemons and tools (beegfs-{mgmtd,meta,storage,helperd,ctl}), built from upstream's
# source with upstream's Makefiles (top-level Makefile: `<component>-all` targets, binaries in
# <component>/build/beegfs-<component>; README.md "Build Instructions" for the libraries).
#
# Why 7.4.6: BeeGFS 8 replaced the management daemon and tools by separate Rust and Go projects
# (ThinkParQ/beegfs-rust, beegfs-go) whose dependency hashes cannot be checked here; 7.4.6 is
# the newest 7.x release with a published source hash that could be found (tag 7.4.7 exists,
# no published hash of it was found). Its client module supports kernels
# up to 6.11 (the Gentoo ebuild's MODULES_KERNEL_MAX), so the composition boots Linux 6.6 LTS.
#
# The source hash: GitHub's archive of tag 7.4.6 is 10725821 bytes with this SHA-512, as
# recorded in the Manifest of gkowal/acrux-overlay (sys-cluster/beegfs-kmod, commit 066c2cf8,
# Gentoo's fetch of the same URL). It was not downloaded on the machine this was written on.
{
  lib,
  stdenv,
  fetchurl,
  pkg-config,
  which,
  runtimeShell,
  curl,
  zlib,
  libnl,
  util-linux,
  rdma-core,
}:
stdenv.mkDerivation rec {
  pname = "beegfs";
  version = "7.4.6";

  src = fetchurl {
    url = "https://github.com/ThinkParQ/beegfs/archive/${version}.tar.gz";
    hash = "sha512-PZv6JF5nk5hVjfoLW+1XixIaCJBY6z4/PC9PAIBegWE33hF3POKHpi94qkiYUm2eHkhuIsYp279B5djb5T3vvw==";
  };

  nativeBuildInputs = [
    pkg-config
    which
  ];
  # build/Makefile: libcurl, zlib and libnl-route-3.0 through pkg-config, -lblkid and -luuid
  # (util-linux), -lrdmacm -libverbs for common's libbeegfs_ib.so (rdma-core)
  buildInputs = [
    curl
    zlib
    libnl
    util-linux
    rdma-core
  ];

  # the Makefiles set SHELL := /bin/bash and call scripts with #!/bin/bash
  postPatch = ''
    grep -rlZ /bin/bash --include=Makefile --include='*.mk' --include='*.sh' . \
      | xargs -0 sed -i 's|/bin/bash|${runtimeShell}|g'
    patchShebangs .
  '';

  # without it the top-level Makefile asks git for the version
  makeFlags = [ "BEEGFS_VERSION=${version}" ];
  buildFlags = [
    "mgmtd-all"
    "meta-all"
    "storage-all"
    "helperd-all"
    "ctl-all"
  ];
  enableParallelBuilding = true;

  installPhase = ''
    runHook preInstall
    for component in mgmtd meta storage helperd ctl; do
      install -Dm755 $component/build/beegfs-$component $out/bin/beegfs-$component
    done
    install -Dm755 common/build/libbeegfs_ib.so $out/lib/libbeegfs_ib.so
    for component in mgmtd meta storage helperd; do
      install -Dm644 $component/build/dist/etc/beegfs-$component.conf \
        $out/share/beegfs/beegfs-$component.conf
    done
    install -Dm644 client_module/build/dist/etc/beegfs-client.conf \
      $out/share/beegfs/beegfs-client.conf
    runHook postInstall
  '';

  meta = {
    description = "BeeGFS parallel file system: daemons and beegfs-ctl";
    homepage = "https://github.com/ThinkParQ/beegfs";
    license = lib.licenses.unfree; # the BeeGFS EULA (daemons); the client module is GPL-2.0
    platforms = [ "x86_64-linux" ];
  };
}
