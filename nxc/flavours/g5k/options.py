"""The options of the Grid'5000 flavours: where the hosts come from, how they are reached, how
the nodes boot on them (``nxc start``'s host options, ``nxc.start(hosts=...)``).

:class:`KexecOptions` is ``g5k-ramdisk``'s; ``g5k-nfs-store`` (:class:`NfsStoreOptions`) and
``g5k-image`` (:class:`ImageOptions`) take those and their own. :class:`HostAccess` is what the
flavour derives from them to reach the hosts, and records, so that nodes added later are
reached the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nxc import limits
from nxc.errors import InputError
from nxc.flavours.g5k import kexec
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.options import FlavourOptions
from nxc.platforms.broadcast import DEFAULT_RELAY_OPTIONS
from nxc.transport import sshconfig
from nxc.transport.sshconfig import SshConfig

DELIVERIES = ("auto", "inline", "url")
"""How the deployment info reaches the nodes: inline when it fits, always inline, a URL."""
NFS_EXPORT = "/nix/store"
KADEPLOY_TIMEOUT = 1800.0


@dataclass(frozen=True)
class HostAccess:
    """How the flavour reaches the hosts and what it adds to every node's command line: the
    remote ``user`` (root in a deploy job), the OpenSSH ``ssh_options`` to the hosts (``-F
    FILE`` of the SSH configuration first), the ``ssh_config`` the nodes are reached with
    (:mod:`nxc.transport.sshconfig`) and the user's extra ``kernel_params``, as checked words."""

    user: str
    ssh_options: tuple[str, ...]
    ssh_config: SshConfig
    kernel_params: tuple[str, ...]


@dataclass(frozen=True)
class KexecOptions(FlavourOptions):
    """``g5k-ramdisk``'s options (``timeout`` included: how long start waits for the nodes to
    come back, default :data:`~nxc.flavours.g5k.ramdisk.DEFAULT_READY_TIMEOUT`)."""

    hosts: HostSource | None = None
    """Where the hosts come from (None: the OAR job nxc runs inside)."""
    host_user: str = "root"
    host_ssh_options: Sequence[str] = ()
    """Extra OpenSSH options to reach the hosts."""
    ssh_config: Path | None = None
    """The OpenSSH configuration file (None: the user's own)."""
    retries: int = 0
    """How many times the nodes missing after the timeout are booted again."""
    info_delivery: str = "auto"
    """One of :data:`DELIVERIES`."""
    info_address: str | None = None
    """The info server's address (None: this machine's address facing the nodes)."""
    kernel_params: Sequence[str] = ()
    """Appended to every node's kernel command line: no control characters, no ``nxc.*``."""
    max_concurrency: int = limits.DEFAULT_CONCURRENCY
    """At most this many hosts are worked on at once."""
    relay_ssh_options: Sequence[str] = DEFAULT_RELAY_OPTIONS
    """The OpenSSH options hosts reach each other with in the boot files' broadcast
    (default: their own known hosts, as on Grid'5000)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.max_concurrency, bool) or self.max_concurrency < 1:
            raise InputError.naming(
                f"{{max_concurrency}} {self.max_concurrency} must be 1 or more (hosts worked on "
                f"at once; default {limits.DEFAULT_CONCURRENCY})",
                "max_concurrency",
            )
        if self.retries < 0:
            raise InputError.naming(f"{{retries}} {self.retries} must be 0 or more", "retries")
        if self.info_delivery not in DELIVERIES:
            raise InputError(
                f"deployment info delivery '{self.info_delivery}' is unknown; use one of "
                f"{', '.join(DELIVERIES)}"
            )
        kexec.user_kernel_params(self.kernel_params)

    @property
    def host_source(self) -> HostSource:
        """Where the hosts come from: ``hosts``, else the OAR job nxc runs inside."""
        return self.hosts or HostSource()

    def host_access(self) -> HostAccess:
        """How these options reach the hosts (the SSH configuration's path made absolute)."""
        config = sshconfig.config_file(self.ssh_config)
        return HostAccess(
            user=self.host_user,
            ssh_options=(*sshconfig.openssh_options(config), *self.host_ssh_options),
            ssh_config=config,
            kernel_params=kexec.user_kernel_params(self.kernel_params),
        )


@dataclass(frozen=True)
class NfsStoreOptions(KexecOptions):
    """``g5k-nfs-store``'s options: ``g5k-ramdisk``'s and where ``/nix/store`` is mounted from."""

    nfs_server: str | None = None
    """The NFS server's address (None: this machine's address facing the nodes)."""
    nfs_export: str = NFS_EXPORT


@dataclass(frozen=True)
class ImageOptions(KexecOptions):
    """``g5k-image``'s options: ``g5k-ramdisk``'s and how long one Kadeploy run may take."""

    kadeploy_timeout: float = KADEPLOY_TIMEOUT
    """Seconds."""
