"""Finding the build to start from under build/ (the links nxc build leaves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nxc.deploy import built_manifest
from nxc.errors import ManifestError


def make_build(build_dir: Path, name: str, mtime: float) -> Path:
    target = build_dir.parent / "store" / name.replace("::", "--")
    target.mkdir(parents=True)
    (target / "manifest.json").write_text("{}")
    link = build_dir / name
    link.symlink_to(target)
    os.utime(link, (mtime, mtime), follow_symlinks=False)
    return link / "manifest.json"


def test_latest_build_of_the_flavour_and_composition(tmp_path: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    old_vm = make_build(build, "alpha::vm", 1000)
    new_vm = make_build(build, "beta::vm", 2000)
    docker = make_build(build, "alpha::docker", 3000)
    (build / "alpha::vm.log").write_text("a build log, not a build")
    assert built_manifest(build, "vm") == new_vm
    assert built_manifest(build, "vm", "alpha") == old_vm
    assert built_manifest(build, None) == docker
    with pytest.raises(ManifestError, match="run 'nxc build -f g5k-image' first"):
        built_manifest(build, "g5k-image")
    with pytest.raises(ManifestError, match="manifest PATH"):
        built_manifest(tmp_path / "nothing", "vm")
