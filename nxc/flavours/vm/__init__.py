"""The local QEMU flavours: ``vm`` (:mod:`.flavour`) and ``vm-ramdisk`` (:mod:`.ramdisk`), with
their machinery: QEMU command lines and the KVM/TCG choice (:mod:`.qemu`), the VDE switch
(:mod:`.vde`), QEMU's machine protocol (:mod:`.qmp`)."""
