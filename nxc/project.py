"""Finding the project nxc works on, reading its ``nxc.json``, and its working folders.

A project is a folder holding ``flake.nix``. It is the ``-d/--envdir`` folder if given, else
the first folder, from the current one upward, that holds either

- ``nxc.json`` — a file, or a symlink as NixOS-Compose's ``nxc init`` makes (``./nxc.json`` →
  ``<project>/nxc.json``): the project is the folder of the file the link points to, even when
  the link dangles because ``nxc init`` wrote no ``nxc.json`` (local mode); or
- ``flake.nix``.

``nxc.json`` is the small JSON object NixOS-Compose writes, all keys optional::

    {"composition": "composition.nix", "default_flavour": "g5k-nfs-store", "platform": "Grid5000"}

The project's working folders ``build/`` (manifests and GC roots), ``deploy/`` (deployment
records) and ``artifact/`` (files handed to nodes or users) are created on demand, never by
discovery.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nxc.deployment import DeploymentStore
from nxc.errors import DeploymentActiveError, ProjectError
from nxc.userfiles import read_text

FLAKE_FILE = "flake.nix"
NXC_JSON = "nxc.json"
DEFAULT_COMPOSITION_FILE = "composition.nix"
WORK_FOLDERS = ("build", "deploy", "artifact")
HOW_TO_CREATE = "create one with 'nxc init', or point to it with {envdir}"


@dataclass(frozen=True)
class ProjectConfig:
    """What ``nxc.json`` says (every field optional; ``path`` is None without the file)."""

    composition: str | None = None
    default_flavour: str | None = None
    platform: str | None = None
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys nxc does not use (older NixOS-Compose versions wrote ``envdir``), kept as read."""


@dataclass(frozen=True)
class Project:
    """A project folder: its flake, its ``nxc.json`` settings and its working folders."""

    root: Path
    config: ProjectConfig = field(default_factory=ProjectConfig)

    @property
    def flake_file(self) -> Path:
        """``<root>/flake.nix``."""
        return self.root / FLAKE_FILE

    @property
    def composition_file(self) -> Path:
        """The composition named by ``nxc.json`` (relative to the root), else composition.nix."""
        return self.root / (self.config.composition or DEFAULT_COMPOSITION_FILE)

    @property
    def default_flavour(self) -> str | None:
        """The flavour ``nxc.json`` asks for when ``-f`` is not given."""
        return self.config.default_flavour

    @property
    def build_dir(self) -> Path:
        """``<root>/build``: build manifests and their GC-root links (may not exist yet)."""
        return self.root / "build"

    @property
    def deploy_dir(self) -> Path:
        """``<root>/deploy``: deployment records and their state folders (may not exist yet)."""
        return self.root / "deploy"

    @property
    def artifact_dir(self) -> Path:
        """``<root>/artifact``: files produced for nodes or users (may not exist yet)."""
        return self.root / "artifact"

    @property
    def work_dirs(self) -> list[Path]:
        """The three working folders, existing or not."""
        return [self.root / name for name in WORK_FOLDERS]

    def ensure_dir(self, folder: Path) -> Path:
        """Create one of the working folders if missing and return it."""
        if folder not in self.work_dirs:
            raise ValueError(f"{folder} is not a working folder of {self.root}")
        folder.mkdir(exist_ok=True)
        return folder

    @property
    def deployments(self) -> DeploymentStore:
        """The deployment records under ``deploy/``."""
        return DeploymentStore(self.deploy_dir)

    def clean(self, force: bool = False) -> list[Path]:
        """Remove ``build/ deploy/ artifact/`` and the deployments' private keys; return the
        folders that existed.

        Refuses with :class:`DeploymentActiveError` while a deployment is recorded as
        starting, running or stopping (its processes would be orphaned), and with
        :class:`DeploymentLockedError` while another nxc process holds a deployment's lock,
        unless ``force``. Without ``force`` a corrupted record stops the clean too, since its
        state is unknown.
        """
        if force:
            return self._remove_work_dirs()
        store = self.deployments
        with store.lock_all(timeout=0):
            active = store.active()
            if active:
                listed = ", ".join(f"{d.name} ({d.state})" for d in active)
                raise DeploymentActiveError(
                    f"not cleaning {self.root}: deployment(s) still recorded as active: "
                    f"{listed}; run 'nxc stop' first, or 'nxc clean --force' to drop the "
                    "records anyway (their processes are then left running)"
                )
            return self._remove_work_dirs()

    def _remove_work_dirs(self) -> list[Path]:
        self.deployments.remove_secrets()
        removed = [folder for folder in self.work_dirs if folder.exists() or folder.is_symlink()]
        for folder in removed:
            try:
                _remove_tree(folder)
            except OSError as error:
                where = f"{error.filename}: " if error.filename else ""
                raise ProjectError(
                    f"cannot remove {folder} ({where}{error.strerror or error}); "
                    "unmount or free it (is a process still using it?), then run 'nxc clean' again"
                ) from None
        return removed


def find_project(envdir: Path | None = None, cwd: Path | None = None) -> Project:
    """The project at ``envdir``, else the nearest one from ``cwd`` (default: here) upward.

    Raises :class:`ProjectError` saying where it looked and how to create a project.
    """
    here = Path(cwd) if cwd is not None else _current_folder()
    if envdir is not None:
        folder = envdir if envdir.is_absolute() else here / envdir
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "no such folder"
            raise ProjectError.naming(
                f"{{envdir}} {envdir}: {what}; give the folder holding the project's "
                f"{FLAKE_FILE} (create one with 'nxc init')",
                "envdir",
            )
        project = _project_in(folder.absolute())
        if project is None:
            raise ProjectError.naming(
                f"{{envdir}} {envdir}: no {FLAKE_FILE} in {folder.absolute()}; {HOW_TO_CREATE}",
                "envdir",
            )
        return project
    start = here.absolute()
    for folder in (start, *start.parents):
        project = _project_in(folder)
        if project is not None:
            return project
    raise ProjectError.naming(
        f"no nxc project here: no {FLAKE_FILE} or {NXC_JSON} in {start} or any folder above it; "
        f"{HOW_TO_CREATE}",
        "envdir",
    )


def _current_folder() -> Path:
    try:
        return Path.cwd()
    except FileNotFoundError:
        raise ProjectError.naming(
            "the current folder no longer exists (removed by 'nxc clean'?); cd to the project "
            "folder, or give it with {envdir}",
            "envdir",
        ) from None


def _project_in(folder: Path) -> Project | None:
    """The project ``folder`` designates, None if it holds neither nxc.json nor flake.nix."""
    nxc_json = folder / NXC_JSON
    if nxc_json.is_symlink() or nxc_json.exists():
        target = Path(os.path.realpath(nxc_json))
        root = target.parent
        if not (root / FLAKE_FILE).is_file():
            pointer = f" (a link to {target})" if nxc_json.is_symlink() else ""
            raise ProjectError.naming(
                f"{nxc_json}{pointer}: no {FLAKE_FILE} in {root}; restore the project there, "
                f"or remove {nxc_json} and {HOW_TO_CREATE}",
                "envdir",
            )
        config = load_config(target) if target.exists() else ProjectConfig()
        return Project(root, config)
    if (folder / FLAKE_FILE).is_file():
        return Project(folder)
    return None


def load_config(path: Path) -> ProjectConfig:
    """Read and check an ``nxc.json``; :class:`ProjectError` naming the line and the fix."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as error:
        raise ProjectError(f"{path}: cannot read it ({error}); fix or remove it") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ProjectError(
            f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); fix it, e.g. "
            '{"composition": "composition.nix", "default_flavour": "vm"}'
        ) from None
    if not isinstance(data, dict):
        raise ProjectError(
            f"{path}: must hold a JSON object such as "
            '{"composition": "composition.nix", "default_flavour": "vm"}, '
            f"not {type(data).__name__}"
        )
    values: dict[str, str | None] = {}
    for key in ("composition", "default_flavour", "platform"):
        value = data.get(key)
        if key == "default_flavour" and value == "":
            value = None  # NixOS-Compose's `nxc init` writes "" for "no default"
        if value is not None and (not isinstance(value, str) or not value):
            raise ProjectError(
                f"{path}:{_line_of_key(text, key)}: '{key}' must be a non-empty string or "
                f"null, not {json.dumps(value)}; fix it"
            )
        values[key] = value
    if values["default_flavour"] is not None:
        from nxc.flavours.names import check_flavour_name

        check_flavour_name(
            values["default_flavour"],
            f"{path}:{_line_of_key(text, 'default_flavour')}: default_flavour",
        )
    extra = {k: v for k, v in data.items() if k not in values}
    return ProjectConfig(path=path, extra=extra, **values)


def _line_of_key(text: str, key: str) -> int:
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _remove_tree(path: Path) -> None:
    """Remove a file, link or folder, including read-only folders copied from the Nix store."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    for folder, subfolders, _files in os.walk(path):
        for name in subfolders:
            sub = Path(folder) / name
            if not sub.is_symlink():
                sub.chmod(sub.stat().st_mode | stat.S_IRWXU)
    path.chmod(path.stat().st_mode | stat.S_IRWXU)
    shutil.rmtree(path)
