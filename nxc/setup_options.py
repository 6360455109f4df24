"""The ``[options]`` tables of a project's setup.toml, as NixOS-Compose's CLI reads them.

setup.toml (see nxc/nix/setup.nix for what the Nix library does with the rest) may hold
options for the command line, at top level and per variant::

    [options]
    nix-flags = "--option cores 1"          # nxc build: as --nix-flags
    kernel-params = "quiet console=ttyS0"   # nxc start: as -k/--kernel-params
    flavour = "vm"                          # nxc build: as -f
    composition-flavour = "web::vm"         # nxc build: as -C
    composition-file = "web.nix"            # nxc build: which composition (its name: web)

    [big.options]                           # variant "big": its keys replace [options]'
    kernel-params = "mitigations=off"

The variant is the one chosen with ``-s VARIANT``, else ``[project] selected`` (``""``: none).
A value may be a string (split as NixOS-Compose does: ``nix-flags`` as a shell would,
``kernel-params`` at spaces outside double quotes, as the kernel does) or a list of strings.
Precedence, per key: the command line, then the variant's ``options``, then ``[options]``
(NixOS-Compose lets a variant's ``nix-flags`` and ``kernel-params`` beat even the command
line; nxc lets an explicit flag win). Keys nxc does not know are returned, not refused: a
NixOS-Compose project may carry some, which its CLI ignored too.
"""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nxc.errors import ProjectError

SETUP_FILE = "setup.toml"
OPTIONS_TABLE = "options"
NOT_VARIANTS = ("project", "params", "options", "overrides", "override-params", "build")
"""Top-level tables of setup.toml that are not variants."""

NIX_FLAGS = "nix-flags"
KERNEL_PARAMS = "kernel-params"
FLAVOUR = "flavour"
COMPOSITION_FLAVOUR = "composition-flavour"
COMPOSITION_FILE = "composition-file"
KNOWN_KEYS = (NIX_FLAGS, KERNEL_PARAMS, FLAVOUR, COMPOSITION_FLAVOUR, COMPOSITION_FILE)


@dataclass(frozen=True)
class SetupOptions:
    """What setup.toml's ``options`` say for the chosen variant; None where nothing is set."""

    variant: str | None = None
    nix_flags: tuple[str, ...] | None = None
    kernel_params: tuple[str, ...] | None = None
    flavour: str | None = None
    composition_flavour: str | None = None
    composition_file: str | None = None
    unknown: tuple[str, ...] = ()
    """Keys of the options tables nxc does not know (``[options] foo``, ``[v.options] bar``)."""

    @property
    def composition(self) -> str | None:
        """The composition ``composition-file`` names (``web.nix`` -> ``web``)."""
        if self.composition_file is None:
            return None
        return Path(self.composition_file).name.removesuffix(".nix")


def split_kernel_params(text: str, where: str) -> tuple[str, ...]:
    """Kernel parameters of a command-line string, split as the kernel splits its own.

    Spaces separate parameters except inside double quotes, which are kept
    (``foo="a b" quiet`` -> ``('foo="a b"', 'quiet')``). :class:`ProjectError` naming
    ``where`` for an unclosed quote.
    """
    params: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char.isspace() and not quoted:
            if current:
                params.append("".join(current))
                current = []
            continue
        current.append(char)
    if quoted:
        raise ProjectError(f'{where} {text!r}: a double quote is not closed; e.g. foo="a b"')
    if current:
        params.append("".join(current))
    return tuple(params)


def split_nix_flags(text: str, where: str) -> tuple[str, ...]:
    """Nix flags of a string, split as a shell would (``where`` names it in errors)."""
    try:
        return tuple(shlex.split(text))
    except ValueError as error:
        raise ProjectError(
            f"{where} {text!r}: {error}; quote it as a shell would, e.g. '--option cores 2'"
        ) from None


def read_setup_options(project_root: Path, variant: str | None = None) -> SetupOptions:
    """The options of ``project_root``'s setup.toml for ``variant`` (else its selected one).

    No setup.toml: no options (and ``variant`` is refused, there being none to choose).
    :class:`ProjectError`, in one line naming the file and key, for invalid TOML, an unknown
    variant or a value of the wrong type.
    """
    path = project_root / SETUP_FILE
    if not path.is_file():
        if variant is not None:
            raise ProjectError(
                f"-s {variant}: the project has no {SETUP_FILE} to take variants from; "
                f"write {path} or drop -s"
            )
        return SetupOptions()
    data = _load(path)
    chosen = variant if variant is not None else _selected(data, path)
    tables: list[tuple[str, dict[str, object]]] = [
        (f"[{OPTIONS_TABLE}]", _table(data, OPTIONS_TABLE, path, f"[{OPTIONS_TABLE}]"))
    ]
    if chosen is not None:
        variants = [name for name, value in data.items() if _is_variant(name, value)]
        if chosen not in variants:
            raise ProjectError(
                f"{path}: no setup variant '{chosen}' (variants: {', '.join(variants) or 'none'}); "
                "pick one with -s VARIANT"
            )
        where = f"[{chosen}.{OPTIONS_TABLE}]"
        tables.append((where, _table(data[chosen], OPTIONS_TABLE, path, where)))
    found: dict[str, tuple[str, object]] = {}
    unknown: list[str] = []
    for where, table in tables:
        for key, value in table.items():
            if key in KNOWN_KEYS:
                found[key] = (f"{path}: {where} {key}", value)
            else:
                unknown.append(f"{where} {key}")
    return SetupOptions(
        variant=chosen,
        nix_flags=_words(found, NIX_FLAGS, split_nix_flags),
        kernel_params=_words(found, KERNEL_PARAMS, split_kernel_params),
        flavour=_text(found, FLAVOUR),
        composition_flavour=_text(found, COMPOSITION_FLAVOUR),
        composition_file=_text(found, COMPOSITION_FILE),
        unknown=tuple(unknown),
    )


def _load(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except tomllib.TOMLDecodeError as error:
        raise ProjectError(f"{path}: not valid TOML ({error}); fix the file") from None
    except UnicodeDecodeError:
        raise ProjectError(f"{path}: not UTF-8 text; save it as UTF-8") from None


def _is_variant(name: str, value: object) -> bool:
    return name not in NOT_VARIANTS and isinstance(value, dict)


def _selected(data: dict[str, object], path: Path) -> str | None:
    """``[project] selected``: the default variant (``""`` or absent: none)."""
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise ProjectError(f"{path}: 'project' must be a table, e.g. [project] selected = \"big\"")
    selected = project.get("selected", "")
    if not isinstance(selected, str):
        raise ProjectError(
            f'{path}: [project] selected must be a string (a variant\'s name, or "" for none)'
        )
    return selected or None


def _table(data: object, key: str, path: Path, where: str) -> dict[str, object]:
    value = data.get(key, {}) if isinstance(data, dict) else {}
    if not isinstance(value, dict):
        raise ProjectError(
            f'{path}: {where} must be a table of options, e.g. {where} nix-flags = "..."'
        )
    return value


def _words(
    found: dict[str, tuple[str, object]],
    key: str,
    split: Callable[[str, str], tuple[str, ...]],
) -> tuple[str, ...] | None:
    """A string split by ``split``, or a list of strings (a list item of ``kernel-params`` is
    split too: the kernel would read its spaces as separators)."""
    if key not in found:
        return None
    where, value = found[key]
    if isinstance(value, str):
        return split(value, where)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        if key == NIX_FLAGS:
            return tuple(value)
        return tuple(word for item in value for word in split(item, where))
    raise ProjectError(f'{where} must be a string or a list of strings, e.g. {key} = "..."')


def _text(found: dict[str, tuple[str, object]], key: str) -> str | None:
    if key not in found:
        return None
    where, value = found[key]
    if not isinstance(value, str) or not value:
        raise ProjectError(f'{where} must be a non-empty string, e.g. {key} = "..."')
    return value
