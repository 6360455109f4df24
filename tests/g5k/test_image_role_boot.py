"""g5k-image boots one Kadeploy environment, so one kernel: a manifest whose roles have
kernels of their own (``role_boot``) is refused before anything is reserved, in one line."""

from __future__ import annotations

import pytest

from nxc.errors import ManifestError
from nxc.flavours.g5k.image import ImageFlavour
from nxc.manifest import Artefacts, Composition, Manifest, Role, RoleBoot


def test_a_manifest_with_role_boot_is_refused(tmp_path):
    image = tmp_path / "nxc-g5k-image.tar.gz"
    image.write_bytes(b"x")
    own = RoleBoot("/nix/store/a-linux-6.6/bzImage", "/nix/store/b-initrd/initrd", "init=/i")
    artefacts = Artefacts(image=str(image), role_boot={"big": own})
    roles = (Role("big", "/nix/store/c-big"), Role("small", "/nix/store/d-small"))
    manifest = Manifest(
        "g5k-image", "x86_64-linux", (Composition("c", roles, artefacts=artefacts),)
    )
    with pytest.raises(ManifestError) as refused:
        ImageFlavour().check_request(manifest, "c", ["big", "small"])
    message = str(refused.value)
    assert "kernels of their own (big)" in message and "\n" not in message
    allowed = Manifest(
        "g5k-image",
        "x86_64-linux",
        (Composition("c", roles, artefacts=Artefacts(image=str(image))),),
    )
    ImageFlavour().check_request(allowed, "c", ["big", "small"])
