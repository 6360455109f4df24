"""Building and checking a project's flake outputs ``"<composition>::<flavour>"``.

A build runs ``nix build path:<source>#packages.<system>."<output>"``, links the result as a
GC root at ``build/<output>`` and its log at ``build/<output>.log``, then validates the
``manifest.json`` it holds. A check evaluates every role of an output without building and
reports each role's error separately.

The ``nixos-test`` flavour (:data:`TEST_FLAVOUR`) has no deployment: its output is the
composition run as a NixOS test by nixpkgs' test framework, so building it runs the test. Its
result holds no manifest; a failing test is a :class:`~nxc.errors.TestScriptError` naming the
log, and :func:`check_deployable` refuses to start it.

Nix copies a ``path:`` flake's whole folder into the store, which every local user can read,
so nxc never names the project folder itself: each Nix call gets a snapshot of the project
without its working folders ``build/ deploy/ artifact/`` (deployment records, logs, shared
folders, tokens, results), made under ``build/`` with hard links (:func:`flake_source`). A
``flake.lock`` Nix writes into the snapshot is copied back to the project.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from nxc.errors import (
    ExternalCommandError,
    InputError,
    NixpkgsUnreachableError,
    NxcError,
    ProjectError,
    TestScriptError,
)
from nxc.flavours.names import check_flavour_name
from nxc.nix_cli import SETUP_OVERRIDES_ENV, NixCommand

if TYPE_CHECKING:
    from nxc.project import Project

MANIFEST_FILE = "manifest.json"
LOCK_FILE = "flake.lock"
SOURCE_PREFIX = ".source-"
"""Snapshots of the project handed to Nix: ``build/.source-XXXXXXXX`` while a Nix call runs."""
PLATFORM_DEFAULT_FLAVOURS = {"grid5000": "g5k-ramdisk", "g5k": "g5k-ramdisk"}
"""The flavour a project built for a platform (nxc.json ``platform``) gets without ``-f``."""
DEFAULT_FLAVOUR = "vm"
TEST_FLAVOUR = "nixos-test"
"""The flavour whose build runs the composition as a NixOS test, inside ``nix build``."""
_TEST_RUN_FAILED = re.compile(r"(builder for|Cannot build) '[^']*-vm-test-run-[^']*\.drv'")
"""Nix's words for the test's own derivation failing (Nix 2.8: ``builder for '...' failed``;
newer: ``Cannot build '...'``); its name is nixos/lib/testing/run.nix's ``vm-test-run-<name>``."""
_PARAM_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=(.*)", re.DOTALL)


def nix_system() -> str:
    """The Nix system string of this machine (``x86_64-linux``, ``aarch64-linux``...)."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"{machine}-{platform.system().lower()}"


def flake_ref(project_root: Path) -> str:
    """How nxc names a folder to Nix: a ``path:`` flake (fresh, untracked files included)."""
    return f"path:{project_root.resolve()}"


@contextlib.contextmanager
def flake_source(project_root: Path) -> Iterator[Path]:
    """A snapshot of the project without ``build/ deploy/ artifact/``, to name to Nix.

    Files are hard-linked (copied across file systems or where linking is not allowed),
    links copied as links, as Nix would store them; ``flake.lock`` is copied, and copied back
    when Nix changed it. The snapshot is removed afterwards. :class:`ProjectError` for a file
    Nix could not store either (a socket, a FIFO, a device).
    """
    from nxc.project import WORK_FOLDERS

    root = project_root.resolve()
    build_dir = root / "build"
    try:
        build_dir.mkdir(exist_ok=True)
        snapshot = Path(tempfile.mkdtemp(prefix=SOURCE_PREFIX, dir=build_dir))
    except OSError as error:
        raise ProjectError(
            f"cannot make the project's snapshot for Nix in {build_dir} ({error.strerror}); "
            "make the project folder writable"
        ) from None
    try:
        for entry in os.scandir(root):
            if entry.name in WORK_FOLDERS:
                continue
            source, target = Path(entry.path), snapshot / entry.name
            if entry.is_symlink():
                os.symlink(os.readlink(source), target)
            elif entry.is_dir():
                shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
            elif entry.name == LOCK_FILE:
                shutil.copyfile(source, target)
            else:
                _link_or_copy(str(source), str(target))
        yield snapshot
    finally:
        try:
            _keep_lock_file(snapshot / LOCK_FILE, root / LOCK_FILE)
        finally:
            shutil.rmtree(snapshot, ignore_errors=True)


def _link_or_copy(source: str, target: str) -> None:
    mode = os.lstat(source).st_mode
    if not stat.S_ISREG(mode):
        raise ProjectError(
            f"{source}: not a regular file, folder or link (a socket, FIFO or device); Nix "
            "cannot copy it into the store: move it out of the project"
        )
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _keep_lock_file(written: Path, kept: Path) -> None:
    """Copy the lock file Nix wrote into a snapshot back to the project when it changed."""
    if written.is_symlink() or not written.is_file():
        return
    content = written.read_bytes()
    if kept.is_file() and kept.read_bytes() == content:
        return
    from nxc.atomic import write_atomic

    write_atomic(kept, content, mode=0o644)


def installable(project_root: Path, system: str, output: str, *attrs: str) -> str:
    """``path:/dir#packages.<system>."<output>"[.attr...]`` with the output name quoted."""
    suffix = "".join(f".{_attr_name(a)}" for a in attrs)
    return f"{flake_ref(project_root)}#packages.{system}.{json.dumps(output)}{suffix}"


def _attr_name(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w-]*", name) else json.dumps(name)


def parse_param(text: str) -> tuple[str, object]:
    """``key=value`` from ``-p``: integers, floats, true/false become numbers and booleans."""
    match = _PARAM_RE.fullmatch(text)
    if match is None:
        raise ProjectError(f"-p {text!r}: expected KEY=VALUE, e.g. -p nb_clients=4")
    key, raw = match.groups()
    value: object = raw
    if raw in ("true", "false"):
        value = raw == "true"
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return key, value


def setup_overrides(variant: str | None, params: list[str]) -> dict[str, str]:
    """Environment handing ``-s``/``-p`` to the Nix library (empty when neither is given)."""
    if variant is None and not params:
        return {}
    data = {"variant": variant, "params": dict(parse_param(p) for p in params)}
    return {SETUP_OVERRIDES_ENV: json.dumps(data)}


def list_outputs(nix: NixCommand, project_root: Path, system: str) -> list[str]:
    """Names of the flake's ``packages.<system>`` outputs (``composition::vm``...)."""
    try:
        with flake_source(project_root) as source:
            ref = f"{flake_ref(source)}#packages.{system}"
            names = nix.eval_json(ref, apply="builtins.attrNames")
    except ExternalCommandError as error:
        if "does not provide attribute" in str(error):
            raise ProjectError(
                f"{project_root / 'flake.nix'}: no packages.{system} output; its outputs must "
                "include packages.${system} = nxc.lib.compose { ... }"
            ) from None
        raise
    return sorted(n for n in names if "::" in n)


def choose_output(
    outputs: list[str],
    flavour: str | None,
    composition: str | None,
    default_composition: str | None = None,
) -> str:
    """The output to build: ``-C comp::flavour``, else the one output of ``flavour``.

    When several compositions offer ``flavour``, ``default_composition`` (from nxc.json) or
    ``composition`` decides. Raises :class:`ProjectError` listing the available outputs.
    """
    available = ", ".join(outputs) or "none"
    if composition is not None and "::" in composition:
        wanted = composition
        if flavour is not None and not wanted.endswith(f"::{flavour}"):
            raise ProjectError(f"-C {wanted} and -f {flavour} disagree; give only one of them")
    else:
        if flavour is None:
            raise ProjectError("no flavour: give -f FLAVOUR or set default_flavour in nxc.json")
        candidates = [o for o in outputs if o.endswith(f"::{flavour}")]
        name = composition or default_composition
        if name is not None and f"{name}::{flavour}" in candidates:
            return f"{name}::{flavour}"
        singles = [o for o in candidates if not o.startswith("::")]
        if len(singles) == 1:
            return singles[0]
        if not candidates:
            raise ProjectError(
                f"the flake has no output for flavour '{flavour}'; available: {available}"
            )
        raise ProjectError(
            f"several compositions have flavour '{flavour}' ({', '.join(candidates)}); "
            "pick one with -C COMPOSITION::FLAVOUR"
        )
    if wanted not in outputs:
        raise ProjectError(
            f"the flake has no output '{wanted}'; available: {available} "
            "(check the name, or add the flavour to lib.compose)"
        )
    return wanted


def default_flavour(project: Project) -> str:
    """``default_flavour`` of nxc.json, else the platform's default, else ``vm``."""
    if project.default_flavour is not None:
        return project.default_flavour
    platform_name = (project.config.platform or "").lower()
    return PLATFORM_DEFAULT_FLAVOURS.get(platform_name, DEFAULT_FLAVOUR)


def default_composition(project: Project) -> str | None:
    """The composition named by nxc.json (``composition.nix`` -> ``composition``)."""
    name = project.config.composition
    return PurePath(name).stem if name else None


def check_flavour(flavour: str | None, source: str) -> str | None:
    """Validate a flavour name coming from ``source`` (``-f/--flavour``, nxc.json)."""
    if flavour is None:
        return None
    return check_flavour_name(flavour, source)


def output_flavour(output: str) -> str:
    """The flavour of an output name (``composition::vm`` -> ``vm``)."""
    return output.rpartition("::")[2]


def check_deployable(flavour: str | None) -> None:
    """Raise :class:`InputError` for a flavour ``nxc start`` cannot start (``nixos-test``)."""
    if flavour == TEST_FLAVOUR:
        raise InputError(
            f"flavour {TEST_FLAVOUR} has no deployment (its test runs while it builds): run it "
            f"with 'nxc build -f {TEST_FLAVOUR}', or build -f vm and run 'nxc start -t'"
        )


@dataclass(frozen=True)
class BuildResult:
    """What a build left behind.

    For a ``nixos-test`` output (``test`` true) a result means the test passed; ``link`` is
    the test's result folder and ``manifest`` is None.
    """

    output: str
    store_path: Path | None
    link: Path
    log: Path
    manifest: Path | None
    test: bool = False


def output_link(build_dir: Path, output: str) -> Path:
    """The GC-root link of an output under ``build/`` (``build/composition::vm``)."""
    return build_dir / output


def build_output(
    nix: NixCommand,
    project_root: Path,
    build_dir: Path,
    output: str,
    system: str,
    on_line: Callable[[str], None] | None = None,
    dry_run: bool = False,
) -> BuildResult:
    """Build one output, keep it as a GC root under ``build_dir``, validate its manifest.

    A ``nixos-test`` output has no manifest: building it runs the test, and a failing test
    raises :class:`TestScriptError` naming the log.
    """
    build_dir.mkdir(parents=True, exist_ok=True)
    link = output_link(build_dir, output)
    log = build_dir / f"{output}.log"
    test = output_flavour(output) == TEST_FLAVOUR
    try:
        with flake_source(project_root) as source:
            store_path = nix.build(installable(source, system, output), link, log, on_line, dry_run)
        if store_path is None:
            return BuildResult(output, None, link, log, None, test)
        if test:
            return BuildResult(output, store_path, link, log, None, test)
        manifest_path = store_path / MANIFEST_FILE
        if not manifest_path.is_file():
            raise ExternalCommandError(
                f"{output} built {store_path}, which holds no {MANIFEST_FILE}: the output was "
                "not made by nxc.lib.compose; check packages in flake.nix"
            )
        from nxc.manifest import load

        load(manifest_path)
    except ExternalCommandError as error:
        _unlink_result(link, dry_run)
        if test and _TEST_RUN_FAILED.search(str(error)):
            raise TestScriptError(f"the NixOS test {output} failed: {error}") from None
        raise
    except Exception:
        _unlink_result(link, dry_run)
        raise
    return BuildResult(output, store_path, link, log, link / MANIFEST_FILE)


def _unlink_result(link: Path, dry_run: bool) -> None:
    """A failed build leaves no result: 'nxc start' must not use an older one."""
    if not dry_run and link.is_symlink():
        link.unlink()


@dataclass(frozen=True)
class RoleProblem:
    """One role (or the output itself, when ``role`` is None) that fails to evaluate."""

    output: str
    composition: str | None
    role: str | None
    message: str


def check_output(
    nix: NixCommand, project_root: Path, system: str, output: str
) -> tuple[list[str], list[RoleProblem]]:
    """Evaluate every role of ``output`` without building; return (roles checked, problems)."""
    with flake_source(project_root) as source:
        return _check_roles(nix, source, system, output)


def _check_roles(
    nix: NixCommand, source: Path, system: str, output: str
) -> tuple[list[str], list[RoleProblem]]:
    try:
        roles = nix.eval_json(
            installable(source, system, output, "nxc", "roles"),
            apply="builtins.mapAttrs (c: rs: builtins.attrNames rs)",
        )
    except NixpkgsUnreachableError:
        raise
    except NxcError as error:
        return [], [RoleProblem(output, None, None, str(error))]
    checked: list[str] = []
    problems: list[RoleProblem] = []
    for composition, names in sorted(roles.items()):
        for role in names:
            checked.append(f"{composition}.{role}")
            attr = installable(source, system, output, "nxc", "roles", composition, role, "drvPath")
            try:
                nix.eval_raw(attr)
            except NixpkgsUnreachableError:
                raise
            except NxcError as error:
                problems.append(RoleProblem(output, composition, role, str(error)))
    if not problems:
        try:
            nix.eval_raw(installable(source, system, output, "drvPath"))
        except NixpkgsUnreachableError:
            raise
        except NxcError as error:
            problems.append(RoleProblem(output, None, None, str(error)))
    return checked, problems
