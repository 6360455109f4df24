"""The Grid'5000 flavours: ``g5k-ramdisk`` (:mod:`.ramdisk`, the kexec flavour the others build
on), ``g5k-nfs-store`` (:mod:`.nfs_store`), ``g5k-image`` (:mod:`.image`, Kadeploy), with their
options (:mod:`.options`), what they keep in the deployment record (:mod:`.record`), where
their hosts come from (:mod:`.hosts`) and booting hosts by kexec (:mod:`.kexec`: command lines,
pushes, the remote shell)."""
