"""Role quantities: how many nodes of each role to start, and what their hostnames are.

Three sources, weakest first; for each role the strongest source that mentions it wins:

1. the composition's defaults (``default_count`` of each role in the build manifest);
2. a roles file (YAML, or JSON when it ends in ``.json``; messages about a role of a YAML file
   name its line);
3. ``-r/--role`` options.

A role's value is a count (``node: 3``, ``-r node=3``), a list of hostnames (``node: [foo, bar]``,
``-r node=foo,bar``), or a mapping with one of the keys ``count`` or ``hostnames``.

On Grid'5000 a role may be placed on one cluster: ``-r osd=cluster:dahu:8`` (``cluster:NAME:``
before a count or hostnames), or ``osd: {count: 8, cluster: dahu}`` in a roles file; and on one
site (whose OAR server reserves its hosts): ``-r osd=site:nancy:8``, maybe with a cluster of that
site after it (``-r osd=site:nancy:cluster:gros:8``), or ``osd: {count: 8, site: nancy}``.

Hostnames follow NixOS-Compose, so its test scripts find their machines by the same names:

* a count N, given in a file or with ``-r``, names the nodes ``<role>1`` .. ``<role>N``
  (also for N = 1: ``-r node=1`` gives ``node1``);
* a role left at its composition default keeps the role name as hostname when the default is 1,
  and is numbered ``<role>1`` .. ``<role>N`` when the default N is larger;
* a list of hostnames is used as given, in that order.

Hostnames follow NixOS's ``networking.hostName`` rule (letters, digits, ``-`` and ``_``, 1 to 63
characters, starting and ending with a letter or digit) and must be unique across all roles,
ignoring case.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nxc import userfiles
from nxc.errors import RolesError

HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
"""NixOS's ``networking.hostName`` pattern (also what role names must match)."""

_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_HOSTNAME_RULE = (
    "letters, digits, '-' and '_', 1 to 63 characters, starting and ending with a letter or digit"
)
_VALUE_HINT = "give a positive count or a list of hostnames, e.g. 'node: 2' or 'node: [foo, bar]'"
_OPTION_HINT = "write -r ROLE=COUNT or -r ROLE=HOST1,HOST2, e.g. -r node=2"
_MAPPING_KEYS = ("count", "hostnames")
CLUSTER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""What a Grid'5000 cluster name looks like (it goes into an OAR resource request)."""
SITE_RE = CLUSTER_RE
"""What a Grid'5000 site name looks like (it becomes the SSH destination of its frontend)."""
_PLACEMENTS = {"site": (SITE_RE, "nancy"), "cluster": (CLUSTER_RE, "dahu")}
"""Where a role may be placed: each kind's name pattern and an example name."""
_DUPLICATE_KEY = re.compile(r'found duplicate key "([^"]*)"')

MAX_COUNT = 1_000_000
"""Most nodes one role may ask for: a larger count is a typo, and would exhaust memory."""


@dataclass(frozen=True)
class RoleQuantity:
    """The nodes that one source asks for, for one role."""

    role: str
    hostnames: tuple[str, ...]
    source: str
    """Where the request came from, as shown in messages (``-r node=2``, ``nodes.yaml``...)."""
    cluster: str | None = None
    """The Grid'5000 cluster the role's nodes must be on (``None``: any host)."""
    site: str | None = None
    """The Grid'5000 site the role's nodes must be on (``None``: the default frontend's)."""

    @property
    def count(self) -> int:
        """How many nodes of this role."""
        return len(self.hostnames)


def is_hostname(name: str) -> bool:
    """Whether ``name`` is a valid hostname (and so a valid role name)."""
    return HOSTNAME_RE.fullmatch(name) is not None


def numbered_hostnames(role: str, count: int, source: str) -> tuple[str, ...]:
    """``<role>1`` .. ``<role><count>``; raise :class:`RolesError` if they are not hostnames."""
    names = tuple(f"{role}{index}" for index in range(1, count + 1))
    if names and not is_hostname(names[-1]):
        raise RolesError(
            f"{source}: role '{role}' numbered up to {count} gives '{names[-1]}', which is not a "
            f"valid hostname ({_HOSTNAME_RULE}); list the hostnames explicitly instead"
        )
    return names


def default_quantities(defaults: Mapping[str, int]) -> dict[str, RoleQuantity]:
    """The composition's own quantities: one node named after its role, or numbered ones."""
    source = "composition default"
    quantities = {}
    for role, count in defaults.items():
        hostnames = (role,) if count == 1 else numbered_hostnames(role, count, source)
        quantities[role] = RoleQuantity(role, hostnames, source)
    return quantities


def parse_role_option(text: str) -> RoleQuantity:
    """Parse one ``-r`` value: ``ROLE=COUNT`` or ``ROLE=HOST1,HOST2``."""
    source = f"-r {text}"
    role, equals, value = text.partition("=")
    role = role.strip()
    if not equals:
        raise RolesError(f"{source}: missing '='; {_OPTION_HINT}")
    if not role:
        raise RolesError(f"{source}: missing role name before '='; {_OPTION_HINT}")
    _check_role_name(role, source)
    if not value.strip():
        raise RolesError(f"{source}: missing count or hostnames after '='; {_OPTION_HINT}")
    return _quantity_from_text(role, value, source, _OPTION_HINT)


def parse_role_options(texts: Iterable[str]) -> dict[str, RoleQuantity]:
    """Parse every ``-r`` option; a role given twice is an error."""
    quantities: dict[str, RoleQuantity] = {}
    for text in texts:
        quantity = parse_role_option(text)
        earlier = quantities.get(quantity.role)
        if earlier is not None:
            raise RolesError(
                f"{quantity.source}: role '{quantity.role}' is already given by "
                f"'{earlier.source}'; keep only one -r option per role"
            )
        quantities[quantity.role] = quantity
    return quantities


def read_roles_file(path: Path) -> dict[str, RoleQuantity]:
    """Read a roles file: YAML (JSON when the name ends in ``.json``) mapping roles to values.

    A UTF-8 byte order mark (left by some Windows editors) is ignored. Only a regular file of
    at most :data:`nxc.userfiles.MAX_BYTES` is read.
    """
    source = str(path)
    try:
        text = userfiles.read_text(path, encoding="utf-8-sig")
    except userfiles.UserFileRefused as error:
        raise RolesError(f"{source}: {error}; give a YAML or JSON roles file") from None
    except FileNotFoundError:
        raise RolesError(f"{source}: roles file not found; check the path") from None
    except IsADirectoryError:
        raise RolesError(f"{source}: is a folder, not a roles file; give the file's path") from None
    except UnicodeDecodeError:
        raise RolesError(f"{source}: not a text file; give a YAML or JSON roles file") from None
    except OSError as error:
        raise RolesError(f"{source}: cannot be read ({error.strerror}); fix its path") from None
    if not text.strip():
        raise RolesError(f"{source}: roles file is empty; {_VALUE_HINT}")
    load = _load_json if path.suffix.lower() == ".json" else _load_yaml
    return roles_from_data(load(text, source), source)


def roles_from_data(data: Any, source: str) -> dict[str, RoleQuantity]:
    """Turn a parsed roles file (a mapping from role to value) into quantities."""
    if data is None or (isinstance(data, Mapping) and not data):
        raise RolesError(f"{source}: roles file is empty; {_VALUE_HINT}")
    if not isinstance(data, Mapping):
        raise RolesError(
            f"{source}: must map each role to its nodes, got {_describe(data)}; {_VALUE_HINT}"
        )
    quantities = {}
    for role, value in data.items():
        at = _where_written(data, role, source)
        if not isinstance(role, str):
            raise RolesError(
                f"{at}: role names must be text, got {_describe(role)}; quote the role name "
                "(YAML reads on, off, yes, no and numbers as other values), e.g. 'on': 2"
            )
        _check_role_name(role, at)
        quantities[role] = _quantity_from_value(role, value, at)
    return quantities


def _where_written(data: Mapping[Any, Any], role: Any, source: str) -> str:
    """``source, line N`` for a role of a YAML file (its loader keeps positions), else ``source``."""
    positions = getattr(data, "lc", None)
    try:
        line = positions.key(role)[0] + 1 if positions is not None else None
    except (KeyError, TypeError):
        line = None
    return source if line is None else f"{source}, line {line}"


def resolve_quantities(
    defaults: Mapping[str, int],
    *overrides: Mapping[str, RoleQuantity],
    composition: str,
) -> dict[str, RoleQuantity]:
    """Combine the composition's defaults with stronger sources (weakest first).

    ``defaults`` maps every role the composition declares to its default count, in the
    composition's order, which the result keeps. Roles with no node are left out. Raises
    :class:`RolesError` for a role the composition does not declare or a hostname used twice.
    """
    chosen = default_quantities(defaults)
    for layer in overrides:
        for role, quantity in layer.items():
            if role not in defaults:
                raise RolesError(_unknown_role_message(quantity, defaults, composition))
            chosen[role] = quantity
    _check_unique_hostnames(chosen.values())
    return {role: quantity for role, quantity in chosen.items() if quantity.hostnames}


def _quantity_from_value(role: str, value: Any, source: str) -> RoleQuantity:
    where = f"{source}: role '{role}'"
    if isinstance(value, Mapping):
        return _quantity_from_mapping(role, value, source)
    if isinstance(value, bool) or value is None:
        raise RolesError(f"{where}: {_describe(value)} is not a count; {_VALUE_HINT}")
    if isinstance(value, int):
        return RoleQuantity(role, _count_hostnames(role, value, where, _VALUE_HINT), source)
    if isinstance(value, float):
        raise RolesError(f"{where}: count {value} is not a whole number; {_VALUE_HINT}")
    if isinstance(value, str):
        return _quantity_from_text(role, value, source, _VALUE_HINT, where)
    if isinstance(value, list):
        return RoleQuantity(role, _listed_hostnames(value, where), source)
    raise RolesError(f"{where}: {_describe(value)} is not a count; {_VALUE_HINT}")


def _quantity_from_mapping(role: str, value: Mapping[Any, Any], source: str) -> RoleQuantity:
    where = f"{source}: role '{role}'"
    keys = set(value) - set(_PLACEMENTS)
    if len(keys) != 1 or not keys <= set(_MAPPING_KEYS):
        raise RolesError(
            f"{where}: a mapping needs exactly one key, 'count' or 'hostnames' (and maybe "
            f"'site' and 'cluster'), got {sorted(map(str, value))}; e.g. 'node: {{count: 2}}'"
        )
    site = _placement_of(value, "site", where)
    cluster = _placement_of(value, "cluster", where)
    if "count" in value:
        count = value["count"]
        if isinstance(count, bool) or not isinstance(count, int):
            raise RolesError(f"{where}: count {count!r} is not a whole number; {_VALUE_HINT}")
        hostnames = _count_hostnames(role, count, where, _VALUE_HINT)
        return RoleQuantity(role, hostnames, source, cluster, site)
    listed = value["hostnames"]
    if isinstance(listed, str):
        listed = listed.split(",")
    if not isinstance(listed, list):
        raise RolesError(f"{where}: 'hostnames' must be a list, got {_describe(listed)}")
    return RoleQuantity(role, _listed_hostnames(listed, where), source, cluster, site)


def _placement_of(value: Mapping[Any, Any], kind: str, where: str) -> str | None:
    """The ``site`` or ``cluster`` of a roles file's mapping, checked (``None`` if absent)."""
    if kind not in value:
        return None
    name = value[kind]
    if not isinstance(name, str):
        raise RolesError(
            f"{where}: {kind} {_describe(name)} is not a {kind} name; "
            f"write it like '{kind}: {_PLACEMENTS[kind][1]}'"
        )
    return _check_placement_name(kind, name, where)


def _quantity_from_text(
    role: str, text: str, source: str, hint: str, where: str | None = None
) -> RoleQuantity:
    """A count or comma-separated hostnames written as text (``-r`` values, quoted YAML),
    maybe after ``site:NAME:`` and then ``cluster:NAME:``."""
    where = where or source
    text = text.strip()
    site = cluster = None
    if text.startswith("site:"):
        site, text = _take_placement("site", text, role, where)
    if text.startswith("cluster:"):
        cluster, text = _take_placement("cluster", text, role, where)
        if text.startswith("site:"):
            raise RolesError(
                f"{where}: write the site before the cluster, e.g. "
                f"'{role}=site:nancy:cluster:gros:8'"
            )
    if _NUMBER_RE.fullmatch(text):
        try:
            count = int(text)
        except ValueError:
            raise RolesError(f"{where}: count '{text}' is not a whole number; {hint}") from None
        hostnames = _count_hostnames(role, count, where, hint)
        return RoleQuantity(role, hostnames, source, cluster, site)
    return RoleQuantity(role, _listed_hostnames(text.split(","), where), source, cluster, site)


def _take_placement(kind: str, text: str, role: str, where: str) -> tuple[str, str]:
    """``(name, rest)`` of ``text`` written ``KIND:NAME:REST`` (``site:nancy:8``), the name
    checked; refuse nothing after the name in one line."""
    name, colon, rest = text[len(kind) + 1 :].partition(":")
    if not colon or not rest.strip():
        raise RolesError(
            f"{where}: write the {kind}, then the count or hostnames, e.g. "
            f"'{role}={kind}:{_PLACEMENTS[kind][1]}:8'"
        )
    return _check_placement_name(kind, name.strip(), where), rest.strip()


def _check_placement_name(kind: str, name: str, where: str) -> str:
    """``name`` if it can be a Grid'5000 ``kind`` (site or cluster) name; else one clear line."""
    pattern, example = _PLACEMENTS[kind]
    if not pattern.fullmatch(name):
        raise RolesError(
            f"{where}: '{name}' is not a {kind} name (letters, digits, '-' and '_'); "
            f"give the {kind} as Grid'5000 names it, e.g. {example}"
        )
    return name


def _count_hostnames(role: str, count: int, where: str, hint: str) -> tuple[str, ...]:
    if count < 1:
        raise RolesError(f"{where}: count {count} must be at least 1; {hint}")
    if count > MAX_COUNT:
        raise RolesError(
            f"{where}: count {count} is more than {MAX_COUNT:,} nodes; check the count"
        )
    return numbered_hostnames(role, count, where)


def _listed_hostnames(items: list[Any], where: str) -> tuple[str, ...]:
    if not items:
        raise RolesError(f"{where}: the list of hostnames is empty; {_VALUE_HINT}")
    hostnames: list[str] = []
    seen: set[str] = set()
    for item in items:
        name = item.strip() if isinstance(item, str) else item
        if not isinstance(name, str) or not is_hostname(name):
            raise RolesError(
                f"{where}: {_describe(item)} is not a valid hostname ({_HOSTNAME_RULE}); "
                "fix the name"
            )
        if name.lower() in seen:
            raise RolesError(f"{where}: hostname '{name}' is listed twice; remove one")
        seen.add(name.lower())
        hostnames.append(name)
    return tuple(hostnames)


def _check_role_name(role: str, source: str) -> None:
    if not is_hostname(role):
        raise RolesError(
            f"{source}: '{role}' is not a role name ({_HOSTNAME_RULE}); "
            "use a role the composition declares"
        )


def _check_unique_hostnames(quantities: Iterable[RoleQuantity]) -> None:
    owners: dict[str, RoleQuantity] = {}
    for quantity in quantities:
        for hostname in quantity.hostnames:
            owner = owners.get(hostname.lower())
            if owner is not None:
                raise RolesError(
                    f"{quantity.source}: hostname '{hostname}' of role '{quantity.role}' is "
                    f"already used by role '{owner.role}' ({owner.source}); "
                    "give one of them other hostnames"
                )
            owners[hostname.lower()] = quantity


def _unknown_role_message(
    quantity: RoleQuantity, defaults: Mapping[str, int], composition: str
) -> str:
    known = ", ".join(defaults) or "no roles"
    close = difflib.get_close_matches(quantity.role, list(defaults), n=1)
    guess = f"did you mean '{close[0]}'? " if close else ""
    return (
        f"{quantity.source}: unknown role '{quantity.role}'; {guess}"
        f"composition '{composition}' declares: {known}"
    )


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, int | float):
        return str(value)
    return f"a {type(value).__name__} value"


def _load_json(text: str, source: str) -> Any:
    def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise RolesError(f"{source}: key '{key}' appears twice; keep one")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=unique_pairs)
    except json.JSONDecodeError as error:
        raise RolesError(
            f"{source}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            'fix the syntax, e.g. {"node": 2}'
        ) from None


def _load_yaml(text: str, source: str) -> Any:
    """Parse with ruamel.yaml's round-trip loader, which keeps where each role is written.

    YAML 1.1, as PyYAML reads NixOS-Compose's roles files: ``yes``/``no``/``on``/``off``
    are booleans (then refused with a hint), not hostnames.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import DuplicateKeyError
    from ruamel.yaml.error import YAMLError

    loader = YAML(typ="rt", pure=True)
    loader.version = (1, 1)
    loader.allow_duplicate_keys = False
    try:
        for event in loader.parse(text):
            tag = getattr(event, "tag", None)
            if tag is not None:
                mark = event.start_mark
                line = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                raise RolesError(
                    f"{source}{line}: tagged value '{tag}' is not allowed in a roles file; "
                    f"remove the tag and {_VALUE_HINT}"
                )
        return loader.load(text)
    except DuplicateKeyError as error:
        mark = error.problem_mark
        key = _DUPLICATE_KEY.search(error.problem or "")
        line = f", line {mark.line + 1}" if mark else ""
        name = key.group(1) if key else "a key"
        raise RolesError(f"{source}{line}: key '{name}' appears twice; keep one") from None
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        at = f" (line {mark.line + 1}, column {mark.column + 1}: {problem})" if mark else ""
        raise RolesError(f"{source}: not valid YAML{at}; fix the syntax, e.g. 'node: 2'") from None
