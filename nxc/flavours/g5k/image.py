"""The ``g5k-image`` flavour: reserved hosts reinstalled by Kadeploy from the composition's image.

Hosts, keys, deployment info and the OAR job are handled as by the kexec flavours
(:class:`~nxc.flavours.g5k.ramdisk.KexecFlavour`). The deploy step differs: one Kadeploy
environment file (in the deployment's private folder) for every node, whose kernel parameters
carry the shared deployment info (inline or URL) and one host-key URL that the info server
answers with the key of the asking node's address (``host_key/@``), so that every node shares
one command line.

``kadeploy3`` runs on the frontend once for all the nodes (Kadeploy broadcasts the image);
the hosts it reports as failed (or does not report on) are deployed again up to ``retries``
times (:func:`~nxc.platforms.kadeploy.deploy_with_retries`), then named in the error. Deployed
nodes are then waited for as with kexec: SSH answering with the pinned host key. Nodes added to
a running deployment are deployed the same way, in one run of their own; a removed node's
host is powered off (a reboot would boot the image on its disk again).

The image tarball must be where Kadeploy reads it: on Grid'5000 a path in the user's home
(shared by the frontend and the Kadeploy server) or an HTTP URL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from nxc.deployment import NodeState
from nxc.errors import ManifestError, NxcError
from nxc.flavours.base import Stage, StartRun
from nxc.flavours.g5k.options import ImageOptions
from nxc.flavours.g5k.ramdisk import POWEROFF_COMMAND, KexecFlavour
from nxc.flavours.g5k.record import secret_dir_of
from nxc.infoserver import BY_ADDRESS, InfoServer
from nxc.platforms.kadeploy import (
    COMPRESSIONS,
    KadeployEnvironment,
    KadeployRun,
    deploy_with_retries,
    kadeploy_argv,
    run_kadeploy,
)
from nxc.platforms.oar import Frontend

if TYPE_CHECKING:
    from nxc.deployment import Deployment, Node
    from nxc.manifest import Manifest

IMAGE_KERNEL = "/boot/bzImage"
IMAGE_INITRD = "/boot/initrd"

KadeployRunner = Callable[[list[str]], KadeployRun]


def image_tarball(image: str, source: str) -> str:
    """The tarball of an image artefact: the file itself, or the one tarball in its folder."""
    if image.startswith(("http://", "https://", "server://")):
        return image
    path = Path(image)
    if path.is_dir():
        tarballs = sorted(
            str(child) for child in path.iterdir() if child.name.endswith(tuple(COMPRESSIONS))
        )
        if len(tarballs) != 1:
            raise ManifestError(
                f"{source}: image folder {path} holds {len(tarballs)} tarballs, not one; "
                "rebuild with 'nxc build -f g5k-image'"
            )
        return tarballs[0]
    if not path.is_file():
        raise ManifestError(
            f"{source}: image {path} does not exist (garbage-collected?); rebuild with "
            "'nxc build -f g5k-image'"
        )
    return str(path)


class ImageFlavour(KexecFlavour):
    """``g5k-image``: Kadeploy instead of kexec (see the module documentation)."""

    name: ClassVar[str] = "g5k-image"
    boot_method: ClassVar[str] = "Kadeploy"
    guest_reboot_keeps_system: ClassVar[bool] = True  # the image is installed on the disk
    # a reboot would boot the image again: a removed node's host is powered off instead (the
    # next Kadeploy powers it on: nxc start --add, or the job's end)
    leave_command: ClassVar[str] = POWEROFF_COMMAND
    places_on_sites: ClassVar[bool] = False  # one Kadeploy run, through one site's frontend

    options: ImageOptions
    options_type: ClassVar[type[ImageOptions]] = ImageOptions

    def __init__(self, options: ImageOptions | None = None) -> None:
        super().__init__(options)
        self._image: str | None = None

    def boot_files(self, manifest: Manifest, composition: str) -> tuple[Path, Path, str]:
        """The image's tarball (as ``kernel``: what is shipped), no initrd, base parameters."""
        if manifest.flavour != self.name:
            raise ManifestError(
                f"{manifest.source} was built for flavour '{manifest.flavour}', not "
                f"'{self.name}'; build with 'nxc build -f {self.name}'"
            )
        entry = manifest.composition(composition)
        if entry.artefacts.role_boot:
            raise ManifestError(
                f"{manifest.source}: a {self.name} image boots one kernel, but 'role_boot' "
                f"gives roles kernels of their own ({', '.join(entry.artefacts.role_boot)}); "
                f"rebuild it with 'nxc build -f {self.name}'"
            )
        entry.artefacts.require("image", flavour=self.name, source=manifest.source)
        self._image = image_tarball(entry.artefacts.image or "", manifest.source)
        return Path(self._image), Path(self._image), entry.artefacts.cmdline or ""

    def environment(self, deployment: Deployment, params: str, image: str) -> Path:
        """Write the one Kadeploy environment file of the deployment (mode 0600: its kernel
        parameters hold the info server's token)."""
        secret_dir = secret_dir_of(deployment)
        environment = KadeployEnvironment(
            name=f"nxc-{deployment.composition}",
            image_file=image,
            kernel=IMAGE_KERNEL,
            initrd=IMAGE_INITRD,
            kernel_params=params,
            description=f"nxc deployment {deployment.name}",
        )
        path = environment.write(secret_dir / "kaenv.yaml")
        path.chmod(0o600)
        return path

    def key_url(self, server: InfoServer, hostname: str) -> str:
        """One URL for every node (the server hands each the key of its address), so that
        every node shares one command line: one environment, one Kadeploy run."""
        return server.key_url(BY_ADDRESS)

    def kadeploy_all(
        self,
        deployment: Deployment,
        image: str,
        command_lines: dict[str, str],
        client_public_key: Path,
        run: KadeployRunner,
        nodes: list[Node] | None = None,
    ) -> dict[str, str]:
        """Deploy ``nodes`` (default: every node) in one Kadeploy run of one environment
        (Kadeploy broadcasts the image), then again the hosts it reports failed, ``retries``
        times; hostname → why for those given up."""
        shared = set(command_lines.values())
        if len(shared) != 1:
            raise NxcError(
                "the nodes' kernel command lines differ, so they cannot share one Kadeploy "
                "environment; this is a bug of nxc, please report it"
            )
        env_file = self.environment(deployment, shared.pop(), image)
        by_host = {node.ssh_host: node for node in (deployment.nodes if nodes is None else nodes)}
        attempts = self.options.retries + 1

        def one_run(hosts: list[str]) -> KadeployRun:
            if self._host_keys:  # a failed attempt may have booted far enough to fetch it
                self.arm_keys(deployment, [by_host[host].hostname for host in hosts])
            return run(kadeploy_argv(str(env_file), hosts=hosts, ssh_key=str(client_public_key)))

        given_up = deploy_with_retries(one_run, list(by_host), attempts).given_up
        return {
            by_host[host].hostname: f"Kadeploy failed {attempts} time(s): {reason}"
            for host, reason in given_up.items()
        }

    @property
    def launch_attempts(self) -> int:
        """Once: Kadeploy's runs retry the hosts that failed themselves (``retries``)."""
        return 1

    def launch(self, run: StartRun, nodes: list[Node]) -> dict[str, str]:
        """Kadeploy ``nodes`` in one run (retries inside); hostname → why for those given up."""
        deployment = run.deployment
        frontend = self._jobs[-1].frontend if self._jobs else Frontend()  # the newest job's
        client_public = Path(f"{self._client_key_path}.pub")

        def kadeploy(argv: list[str]) -> KadeployRun:
            return run_kadeploy(argv, self.options.kadeploy_timeout, frontend.argv)

        image = self._image or str(self._boot_files[0])
        failures = self.kadeploy_all(deployment, image, self._lines, client_public, kadeploy, nodes)
        self._check_job()
        for node in nodes:
            if node.hostname not in failures:
                node.state = NodeState.launching
                run.progress(node.hostname, Stage.LAUNCHED)
        return failures
