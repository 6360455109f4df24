"""The ``g5k-nfs-store`` flavour: the kexec flavour whose nodes mount ``/nix/store`` over NFS.

Everything but the store is :class:`~nxc.flavours.g5k.ramdisk.KexecFlavour`'s; the server is
given (``nfs_server``) or this machine's address facing the nodes, and the nodes learn it from
the deployment info (``nix_store``) and the kernel parameter ``nxc.nfs_store=``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from nxc.flavours.g5k.options import NfsStoreOptions
from nxc.flavours.g5k.ramdisk import KexecFlavour, address_facing

if TYPE_CHECKING:
    from nxc.deployment import Deployment


class NfsStoreFlavour(KexecFlavour):
    """``g5k-nfs-store``: as ``g5k-ramdisk``, the nodes mounting ``/nix/store`` over NFS."""

    name: ClassVar[str] = "g5k-nfs-store"
    options: NfsStoreOptions
    options_type: ClassVar[type[NfsStoreOptions]] = NfsStoreOptions

    def __init__(self, options: NfsStoreOptions | None = None) -> None:
        super().__init__(options)

    def nfs_address(self, deployment: Deployment) -> str:
        """The NFS server's address: given, else this machine's address facing the nodes."""
        return self.options.nfs_server or address_facing(deployment.nodes[0].address)

    def extra_info(self, deployment: Deployment) -> dict[str, Any]:
        """``nix_store``: where the nodes mount the store from."""
        return {
            "nix_store": {
                "type": "nfs",
                "server": self.nfs_address(deployment),
                "export": self.options.nfs_export,
                "options": "ro,nolock,vers=3",
            }
        }

    def extra_params(self, deployment: Deployment) -> list[str]:
        """``nxc.nfs_store=ADDRESS:EXPORT``, read by the image's stage 1."""
        return [f"nxc.nfs_store={self.nfs_address(deployment)}:{self.options.nfs_export}"]
