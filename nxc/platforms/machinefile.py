"""Physical hosts given as a list: machine files, OAR nodefiles, and matching hosts to nodes.

A machine file lists one host (name or address) per line. OAR nodefiles (``$OAR_NODEFILE``)
repeat a host once per reserved core; those repeats are collapsed, the first appearance fixing
the order. Blank lines and ``#`` comments are ignored.

:class:`Hosts` is what every source of hosts (machine file, OAR job) hands to a flavour:
the host names in order, where they came from, and the OAR job when there is one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nxc import userfiles
from nxc.errors import MachineFileError, NodeTimeoutError, ResourceLimitError

if TYPE_CHECKING:
    from nxc.platforms.oar import OarJob

HOST_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?$")
"""A DNS name or an IPv4 address: letters, digits, dots and inner hyphens."""


@dataclass(frozen=True)
class Hosts:
    """Physical hosts for a deployment, in the order they will be given to nodes.

    ``source`` says where they came from, for messages (``"machine file nodes.txt"``,
    ``"OAR job 42"``); ``job`` is the OAR job that holds them, if any.
    """

    names: tuple[str, ...]
    source: str
    job: OarJob | None = field(default=None)

    def split(self, needed: int) -> tuple[list[str], list[str]]:
        """``(assigned, unused)``: the first ``needed`` hosts, and the rest.

        Raises :class:`ResourceLimitError` when there are fewer hosts than ``needed``, so a
        deployment is refused before anything boots.
        """
        return split_hosts(self.names, needed, self.source)


def split_hosts(hosts: Sequence[str], needed: int, source: str) -> tuple[list[str], list[str]]:
    """``(assigned, unused)`` for ``needed`` nodes; refuse when ``hosts`` are too few."""
    if needed < 0:
        raise ValueError(f"needed must be >= 0, not {needed}")
    if len(hosts) < needed:
        raise ResourceLimitError.naming(
            f"{source} gives {len(hosts)} host(s) but the deployment plans {needed} node(s); "
            f"reserve at least {needed} hosts (e.g. {{oar_request}} 'nodes={needed}') or plan "
            "fewer nodes with {roles}",
            "oar_request",
            "roles",
        )
    return list(hosts[:needed]), list(hosts[needed:])


def parse_machine_file(text: str, source: str) -> list[str]:
    """Hosts listed in a machine file's ``text``; ``source`` names the file in errors."""
    hosts: list[str] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not HOST_PATTERN.match(line):
            raise MachineFileError(
                f"{source}, line {number}: '{raw.strip()}' is not a host name or address; "
                "write one host per line"
            )
        if line not in seen:
            seen.add(line)
            hosts.append(line)
    return hosts


def read_machine_file(path: Path) -> list[str]:
    """Hosts listed in the machine file at ``path`` (repeats collapsed, order kept)."""
    try:
        text = userfiles.read_text(path)
    except FileNotFoundError:
        raise MachineFileError(
            f"machine file {path} does not exist; give an existing file to -m, or add -W "
            "to wait for it to appear"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise MachineFileError(f"machine file {path} cannot be read: {error}") from None
    hosts = parse_machine_file(text, f"machine file {path}")
    if not hosts:
        raise MachineFileError(f"machine file {path} lists no host; write one host per line")
    return hosts


def wait_for_machine_file(path: Path, timeout: float, poll_interval: float = 1.0) -> list[str]:
    """Wait until ``path`` exists and lists hosts, then return them (``-W``).

    The file counts as complete when two reads ``poll_interval`` apart give the same hosts,
    so a nodefile still being written is not taken half-way. Raises
    :class:`NodeTimeoutError` naming the file when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    previous: list[str] | None = None
    while True:
        current = _hosts_if_ready(path)
        if current and current == previous:
            return current
        previous = current
        if time.monotonic() >= deadline:
            state = "does not exist" if not path.exists() else "lists no complete host list"
            raise NodeTimeoutError(
                f"machine file {path} still {state} after {timeout:.0f} s; check that the OAR "
                "job writing it is running (oarstat -u) or raise the timeout",
                missing=[str(path)],
            )
        time.sleep(poll_interval)


def _hosts_if_ready(path: Path) -> list[str] | None:
    try:
        text = userfiles.read_text(path)
    except userfiles.UserFileRefused as error:  # waiting will not make it a machine file
        raise MachineFileError(f"machine file {path} cannot be read: {error}") from None
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return parse_machine_file(text, f"machine file {path}") or None
    except MachineFileError:
        return None


def check_known_hosts(hosts: Iterable[str], known: Iterable[str], source: str, where: str) -> None:
    """Refuse hosts of ``source`` that are not in ``known`` (``where`` names that set)."""
    known_set = set(known)
    unknown = [host for host in hosts if host not in known_set]
    if unknown:
        raise MachineFileError(
            f"{source} names host(s) unknown to {where}: {', '.join(unknown)}; fix the file "
            "or use hosts that belong to it"
        )


def check_explicit_assignment(assignment: dict[str, list[str]], hosts: Hosts) -> None:
    """Check role → host lists given by the user (``-r role=h1,h2``) against ``hosts``.

    Every named host must be among ``hosts`` and no host may serve two nodes.
    """
    owner: dict[str, str] = {}
    for role, names in assignment.items():
        for name in names:
            if name in owner:
                raise MachineFileError(
                    f"host {name} is given twice (to roles {owner[name]} and {role}); give "
                    "each host to one node only"
                )
            owner[name] = role
    check_known_hosts(owner, hosts.names, "-r", hosts.source)
