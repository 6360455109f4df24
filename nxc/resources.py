"""Where nxc's own files are: the Nix library, its flake, templates and compositions.

In a checkout they sit at the repository root (``flake.nix``, ``templates/``,
``compositions/``) next to the ``nxc`` package. An installed wheel carries them as
``nxc/_data/...`` (``pyproject.toml`` force-includes them there), the templates next to the
flake (``nxc/_data/flake/templates``) whose ``templates`` and ``checks`` outputs use them.
"""

from __future__ import annotations

from pathlib import Path

from nxc.errors import ProjectError

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "_data"


def nix_library_dir() -> Path:
    """The Nix library (``compose.nix``, ``flavours/``, ``modules/``) shipped in the package."""
    return PACKAGE_DIR / "nix"


def _first_existing(*candidates: Path) -> Path | None:
    return next((c for c in candidates if c.exists()), None)


def flake_dir() -> Path:
    """The folder holding nxc's own ``flake.nix`` (the checkout root, or the wheel's copy)."""
    found = _first_existing(PACKAGE_DIR.parent / "flake.nix", DATA_DIR / "flake" / "flake.nix")
    if found is None:
        raise ProjectError.naming(
            "this nxc installation ships no flake.nix; give the nxc flake to use with "
            "{nxc_url} (e.g. a path: URL of an nxc checkout)",
            "nxc_url",
        )
    return found.parent


def flake_url() -> str:
    """``path:`` URL of nxc's own flake, for offline use by new projects."""
    return f"path:{flake_dir()}"


def templates_dir() -> Path:
    """The folder of project templates (one sub-folder per template)."""
    found = _first_existing(PACKAGE_DIR.parent / "templates", DATA_DIR / "flake" / "templates")
    if found is None:
        raise ProjectError("this nxc installation ships no templates; reinstall nxc")
    return found


def compositions_dir() -> Path:
    """The folder of example compositions shipped with nxc."""
    found = _first_existing(PACKAGE_DIR.parent / "compositions", DATA_DIR / "compositions")
    if found is None:
        raise ProjectError("this nxc installation ships no compositions; reinstall nxc")
    return found


NXC_URL_MARKER = "NXC_URL"
"""Templates' flake.nix name nxc's flake by this string; :func:`create_project` replaces it."""

_DESCRIPTION_FILE = "DESCRIPTION"


def templates() -> dict[str, str]:
    """Template name -> one-line description, for every template shipped with nxc."""
    root = templates_dir()
    found = {}
    for folder in sorted(root.iterdir()):
        if (folder / "flake.nix").is_file():
            description = folder / _DESCRIPTION_FILE
            found[folder.name] = description.read_text().strip() if description.is_file() else ""
    return found


def create_project(template: str, target: Path, nxc_url: str) -> int:
    """Copy ``template`` into ``target``, its flake naming ``nxc_url``; return the file count.

    Raises :class:`ProjectError` for an unknown template, a folder that has a flake or any
    of the template's files already, or a folder that cannot be written.
    """
    known = templates()
    if template not in known:
        raise ProjectError.naming(
            f"{{template}} {template}: no such template; use one of: {', '.join(known)}",
            "template",
        )
    if target.exists() and not target.is_dir():
        raise ProjectError(f"{target} is a file, not a folder; give the folder of the new project")
    if (target / "flake.nix").exists():
        raise ProjectError(
            f"{target / 'flake.nix'} already exists; choose an empty folder for the new project"
        )
    source = templates_dir() / template
    clashes = [
        str(path.relative_to(source))
        for path in sorted(source.rglob("*"))
        if path.is_file()
        and path.name != _DESCRIPTION_FILE
        and (target / path.relative_to(source)).exists()
    ]
    if clashes:
        raise ProjectError(
            f"{target}: would overwrite {', '.join(clashes)}; choose an empty folder or move them"
        )
    try:
        return _copy_template(source, target, nxc_url)
    except OSError as error:
        raise ProjectError(
            f"{target}: cannot create the project ({error.strerror or error}); choose a folder "
            "you can write to"
        ) from None


CI_WORKFLOWS = {"github": Path(".github/workflows/nxc.yml"), "gitlab": Path(".gitlab-ci.yml")}
"""Hosted CI service -> where ``nxc init --ci`` writes its workflow in the project."""


def add_ci_workflow(target: Path, service: str) -> Path:
    """Write the CI workflow for ``service`` (a key of :data:`CI_WORKFLOWS`) into ``target``.

    The workflow builds the project's composition for ``vm`` and runs ``nxc start -t``.
    Returns the file written; raises :class:`ProjectError` for an unknown service or a file
    that exists already.
    """
    if service not in CI_WORKFLOWS:
        raise ProjectError.naming(
            f"{{ci}} {service}: unknown CI service; use one of: {', '.join(CI_WORKFLOWS)}", "ci"
        )
    destination = target / CI_WORKFLOWS[service]
    if destination.exists():
        raise ProjectError(f"{destination} already exists; move it away to add nxc's workflow")
    source = templates_dir() / "ci" / f"{service}.yml"
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(source.read_text())
    except OSError as error:
        raise ProjectError(
            f"{destination}: cannot write the CI workflow ({error.strerror or error})"
        ) from None
    return destination


def _copy_template(source: Path, target: Path, nxc_url: str) -> int:
    """Copy the files of the template folder ``source`` into ``target``; return their count."""
    import shutil

    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative == Path(_DESCRIPTION_FILE):
            continue
        destination = target / relative
        if path.is_dir():
            destination.mkdir(exist_ok=True)
            continue
        if relative == Path("flake.nix"):
            destination.write_text(path.read_text().replace(NXC_URL_MARKER, nxc_url))
        else:
            shutil.copyfile(path, destination)
        destination.chmod(0o644)
        count += 1
    return count
