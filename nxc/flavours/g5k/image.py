"""The ``g5k-image`` flavour: reserved hosts reinstalled by Kadeploy from the composition's image.

Hosts, keys, deployment info and the OAR job are handled as by the kexec flavours
(:class:`~nxc.flavours.g5k.ramdisk.KexecFlavour`). The deploy step differs: each node gets its own
Kadeploy environment file (an artefact in the deployment's private state folder) whose kernel
parameters carry the shared deployment info (inline or URL) and the URL of the node's own host
key on the info server — Kadeploy gives one environment the same parameters on every node, and
those URLs are per node.
``kadeploy3`` runs on the frontend, non-interactively, for every node at once; nodes Kadeploy
reports as failed (or does not report on) are deployed again up to ``retries`` times
(:func:`~nxc.platforms.kadeploy.deploy_with_retries`), then named in the error. Deployed nodes
are then waited for as with kexec: SSH answering with the pinned host key.

The image tarball must be where Kadeploy reads it: on Grid'5000 a path in the user's home
(shared by the frontend and the Kadeploy server) or an HTTP URL.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from nxc.errors import ManifestError
from nxc.flavours.base import ProgressHook, Stage
from nxc.flavours.g5k.ramdisk import KexecFlavour
from nxc.platforms.kadeploy import (
    COMPRESSIONS,
    KadeployEnvironment,
    KadeployRun,
    deploy_with_retries,
    kadeploy_argv,
    run_kadeploy,
)
from nxc.platforms.oar import Frontend, Oar, OarJob

if TYPE_CHECKING:
    from nxc.deployment import Deployment, Node
    from nxc.manifest import Manifest

IMAGE_KERNEL = "/boot/bzImage"
IMAGE_INITRD = "/boot/initrd"
KADEPLOY_TIMEOUT = 1800.0

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

    def __init__(self, kadeploy_timeout: float = KADEPLOY_TIMEOUT, **options) -> None:
        super().__init__(**options)
        self.kadeploy_timeout = kadeploy_timeout
        self._image: str | None = None

    def boot_files(self, manifest: Manifest, composition: str) -> tuple[Path, Path, str]:
        """The image's tarball (as ``kernel``: what is shipped), no initrd, base parameters."""
        if manifest.flavour != self.name:
            raise ManifestError(
                f"{manifest.source} was built for flavour '{manifest.flavour}', not "
                f"'{self.name}'; build with 'nxc build -f {self.name}'"
            )
        entry = manifest.composition(composition)
        entry.artefacts.require("image", flavour=self.name, source=manifest.source)
        self._image = image_tarball(entry.artefacts.image or "", manifest.source)
        return Path(self._image), Path(self._image), entry.artefacts.cmdline or ""

    def environment(self, deployment: Deployment, node: Node, image: str, params: str) -> Path:
        """Write the Kadeploy environment file of ``node`` (mode 0600: it holds the info
        server's token)."""
        secret_dir = Path(deployment.resources["secret_dir"])
        environment = KadeployEnvironment(
            name=f"nxc-{deployment.composition}-{node.hostname}",
            image_file=image,
            kernel=IMAGE_KERNEL,
            initrd=IMAGE_INITRD,
            kernel_params=params,
            description=f"nxc deployment {deployment.name}, node {node.hostname}",
        )
        path = environment.write(secret_dir / f"{node.hostname}.kaenv.yaml")
        path.chmod(0o600)
        return path

    def kadeploy_all(
        self,
        deployment: Deployment,
        image: str,
        command_lines: dict[str, str],
        client_public_key: Path,
        run: KadeployRunner,
    ) -> dict[str, str]:
        """Deploy every node (one Kadeploy run each, all at once, with retries); failures."""
        attempts = self.retries + 1

        def deploy(node: Node) -> dict[str, str]:
            env_file = self.environment(deployment, node, image, command_lines[node.hostname])

            def one_run(hosts: list[str]) -> KadeployRun:
                if self._host_keys:  # a failed attempt may have booted far enough to fetch it
                    self.arm_keys(deployment, [node.hostname])
                argv = kadeploy_argv(str(env_file), hosts=hosts, ssh_key=str(client_public_key))
                return run(argv)

            return dict(deploy_with_retries(one_run, [node.ssh_host], attempts).given_up)

        failures: dict[str, str] = {}
        with concurrent.futures.ThreadPoolExecutor(max(len(deployment.nodes), 1)) as pool:
            results = zip(deployment.nodes, pool.map(deploy, deployment.nodes), strict=True)
            for node, given_up in results:
                for reason in given_up.values():
                    failures[node.hostname] = f"Kadeploy failed {attempts} time(s): {reason}"
        return failures

    def deploy_nodes(
        self,
        deployment: Deployment,
        boot_files: tuple[Path, Path],
        command_lines: dict[str, str],
        progress: ProgressHook,
        oar: Oar | None,
        job: OarJob | None,
    ) -> dict[str, str]:
        """Kadeploy every node (retries inside), then wait for the deployed ones to answer."""
        frontend = job.frontend if job is not None else Frontend()
        client_public = Path(f"{self._client_key_path}.pub")

        def run(argv: list[str]) -> KadeployRun:
            return run_kadeploy(argv, self.kadeploy_timeout, frontend.argv)

        image = self._image or str(boot_files[0])
        failures = self.kadeploy_all(deployment, image, command_lines, client_public, run)
        if oar is not None and job is not None:
            oar.ensure_alive(job)
        for node in deployment.nodes:
            if node.hostname not in failures:
                progress(node.hostname, Stage.LAUNCHED)
        deployed = [node for node in deployment.nodes if node.hostname not in failures]
        return failures | self._wait_nodes(deployed, progress, oar, job)
