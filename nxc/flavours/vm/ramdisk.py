"""The ``vm-ramdisk`` flavour: the Grid'5000 ramdisk boot path, tried in local QEMU.

The nodes boot the kernel and initrd of a ``vm-ramdisk`` build (``g5k-ramdisk``'s boot system
with QEMU's NIC drivers: the whole store in the initrd) as :mod:`nxc.flavours.vm.flavour` runs its VMs
(VDE switch, QEMU processes, serial console, SSH forward, lifecycle operations), but with the
kernel command line kexec would give them on Grid'5000 (:func:`nxc.flavours.g5k.kexec.
node_command_line`): the build's parameters, the user's, ``nxc.info_url=`` and
``nxc.host_key_url=`` — no fw_cfg file, no shared host store. The info server is
:mod:`nxc.infoserver` in its ``--stdio`` form: each QEMU's user network runs it for each
connection the node opens to ``http://10.0.2.100/`` (``guestfwd=...-cmd:``), as that node;
nothing listens on the host. So, as on Grid'5000, a node fetches its info by URL after DHCP
(QEMU's user network answers it) and its key once, and no node can take another's.

Both NICs use ``nic_model``: ``virtio`` (default) or ``e1000e``, the two models the boot
system's initrd has drivers for.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from nxc.deployment_info import InfoExtras, deployment_root_key, root_key_path
from nxc.errors import InputError
from nxc.flavours.base import StartRun
from nxc.flavours.g5k import kexec
from nxc.flavours.options import FlavourOptions
from nxc.flavours.vm import qemu
from nxc.flavours.vm.flavour import VmArtefacts, VmFlavour
from nxc.flavours.vm.options import VmRamdiskOptions
from nxc.flavours.vm.record import recorded_secret_dir
from nxc.infoserver import (
    arm_host_key,
    host_key_url,
    info_url,
    new_token,
    root_key_dir,
    stdio_command,
    write_clients,
)
from nxc.keys import KeyPair, ensure_keypair

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore, Node

KEY_DIR = "host_keys"
"""Under the deployment's private folder: the keys armed for the nodes to fetch."""
TOKEN_FILE = "info.token"
CLIENTS_FILE = "clients.json"


class VmRamdiskFlavour(VmFlavour):
    """Local QEMU VMs booted as ``g5k-ramdisk`` boots hosts (see the module documentation)."""

    name: ClassVar[str] = "vm-ramdisk"

    options_type: ClassVar[type[FlavourOptions]] = VmRamdiskOptions
    options: VmRamdiskOptions

    def __init__(self, options: VmRamdiskOptions | None = None) -> None:
        """``options.nic_model``: ``virtio`` or ``e1000e``; the others as :class:`VmFlavour`'s
        (``memory`` defaults to :data:`~nxc.flavours.vm.options.RAMDISK_DEFAULT_MEMORY`)."""
        super().__init__(options)
        self._token = ""
        self._root_key: KeyPair | None = None

    def info_extras(self, deployment: Deployment) -> InfoExtras:
        """As :class:`VmFlavour`'s; the root key's private half from the info server (the
        info goes by URL)."""
        return dataclasses.replace(super().info_extras(deployment), root_key_by_url=True)

    def prepare(self, run: StartRun) -> None:
        """As :class:`VmFlavour`'s, with a new token for each deployment started (nodes added
        keep the deployment's); the info server answers every node's address."""
        secret_dir = recorded_secret_dir(run.deployment)
        token_file = secret_dir / TOKEN_FILE
        growing = run.added is not None and token_file.is_file()
        self._token = token_file.read_text().strip() if growing else ""
        self._root_key = deployment_root_key(run.deployment, run.store, run.manifest)
        super().prepare(run)
        addresses = {node.hostname: node.address for node in run.deployment.nodes}
        write_clients(secret_dir / CLIENTS_FILE, addresses)

    def delivery(
        self, deployment: Deployment, node: Node, artefacts: VmArtefacts
    ) -> dict[str, Any]:
        """kexec's command line (info and key by URL), the key armed for this node, the info
        server run by QEMU for this node's connections."""
        secret_dir = recorded_secret_dir(deployment)
        info_file = secret_dir / "info.json"
        key_file = secret_dir / f"{node.hostname}.host_key"
        token_file = secret_dir / TOKEN_FILE
        if not self._token:  # once per deployment: every node shares the token
            self._token = new_token()
            token_file.write_text(self._token + "\n")
            token_file.chmod(0o600)
        arm_host_key(secret_dir / KEY_DIR, node.hostname, key_file.read_bytes())
        if self._root_key is not None:
            root_keys = root_key_dir(secret_dir / KEY_DIR)
            arm_host_key(root_keys, node.hostname, self._root_key.private_openssh)
        base = " ".join(part for part in (artefacts.cmdline, *self.options.kernel_params) if part)
        authority = qemu.GUESTFWD_ADDRESS
        line = kexec.node_command_line(
            base,
            host_key_url(authority, self._token, node.hostname),
            info_url=info_url(authority, self._token),
        )
        if not kexec.fits(line):
            raise InputError(
                f"the kernel command line of {node.hostname} exceeds {kexec.MAX_CMDLINE} "
                "bytes; shorten the composition's kernel parameters"
            )
        command = stdio_command(
            info_file, secret_dir / KEY_DIR, secret_dir / CLIENTS_FILE, token_file, node.address
        )
        return {
            "append": line,
            "info_file": None,
            "host_key_file": None,
            "store_dir": None,
            "nic": self.options.nic,
            "guestfwd": command,
        }

    def start_node(self, deployment: Deployment, store: DeploymentStore, hostname: str) -> None:
        """Relaunch a node that is not running, its host key (and the root key pair, if the
        deployment has one) armed again for its new boot."""
        secret_dir = store.secret_dir(deployment.name) / "nodes"
        key_file = secret_dir / f"{hostname}.host_key"
        if key_file.is_file():
            arm_host_key(secret_dir / KEY_DIR, hostname, key_file.read_bytes())
        root_key = root_key_path(store, deployment.name)
        if root_key.is_file():
            pair = ensure_keypair(root_key, "")
            arm_host_key(root_key_dir(secret_dir / KEY_DIR), hostname, pair.private_openssh)
        super().start_node(deployment, store, hostname)
