"""The snapshot of the project nxc names to Nix (``nxc.build.flake_source``), on real files.

What Nix then copies from it is proven with the real ``nix`` in
``tests/nix/test_no_secret_in_store.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nxc.build import SOURCE_PREFIX, flake_source
from nxc.errors import ProjectError


def _project(root: Path) -> Path:
    (root / "roles").mkdir(parents=True)
    (root / "flake.nix").write_text("{ outputs = _: { }; }\n")
    (root / "roles" / "server.nix").write_text("{ }\n")
    (root / "link").symlink_to("../elsewhere")
    for folder in ("build", "deploy", "artifact"):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / "state").write_text("private")
    return root


def test_the_snapshot_holds_the_sources_as_links_and_no_working_folder(tmp_path):
    project = _project(tmp_path / "project")
    with flake_source(project) as source:
        assert source.parent == project / "build" and source.name.startswith(SOURCE_PREFIX)
        assert sorted(p.name for p in source.iterdir()) == ["flake.nix", "link", "roles"]
        assert os.readlink(source / "link") == "../elsewhere"
        original, linked = (
            (project / "roles" / "server.nix").stat(),
            (source / "roles" / "server.nix").stat(),
        )
        assert (original.st_dev, original.st_ino) == (linked.st_dev, linked.st_ino)
    assert list((project / "build").glob(f"{SOURCE_PREFIX}*")) == []


def test_a_lock_file_written_in_the_snapshot_is_kept_and_the_project_one_never_written_through(
    tmp_path,
):
    project = _project(tmp_path / "project")
    (project / "flake.lock").write_text("old")
    with flake_source(project) as source:
        assert (source / "flake.lock").stat().st_ino != (project / "flake.lock").stat().st_ino
        (source / "flake.lock").write_text("new")
        assert (project / "flake.lock").read_text() == "old"
    assert (project / "flake.lock").read_text() == "new"


def test_a_fifo_in_the_project_is_refused_in_one_line_without_blocking(tmp_path):
    project = _project(tmp_path / "project")
    os.mkfifo(project / "roles" / "pipe")
    refused = pytest.raises(ProjectError, match=r"roles/pipe: not a regular file.*move it out")
    with refused, flake_source(project):
        pass
    assert list((project / "build").glob(f"{SOURCE_PREFIX}*")) == []
