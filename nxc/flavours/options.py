"""A flavour's options as one typed, checked value: what ``nxc start`` and ``nxc.start`` set.

Each flavour declares a frozen dataclass deriving from :class:`FlavourOptions` (its
``options_type``) whose ``__post_init__`` checks every value; the flavour's constructor takes
one instance. Keyword options (the Python API's ``nxc.start(memory="2G")``, the CLI's parsed
flags) become one through :meth:`FlavourOptions.from_keywords`, which refuses, in one line,
an option the flavour does not take.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from nxc.errors import InputError


@dataclass(frozen=True)
class FlavourOptions:
    """Options every flavour takes; a flavour's own options derive from this."""

    timeout: float | None = None
    """How long start waits for every node to be ready, in seconds (None: the flavour's
    default, which grows with the node count)."""

    def __post_init__(self) -> None:
        if self.timeout is not None and not (
            isinstance(self.timeout, int | float)
            and not isinstance(self.timeout, bool)
            and math.isfinite(self.timeout)
            and self.timeout > 0
        ):
            raise InputError.naming(
                f"{{timeout}} {self.timeout!r}: must be a positive number of seconds", "timeout"
            )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The options this class holds, in declaration order."""
        return tuple(item.name for item in dataclasses.fields(cls))

    @classmethod
    def takes(cls, name: str) -> bool:
        """Whether ``name`` is one of these options."""
        return name in cls.names()

    @classmethod
    def from_keywords(cls, flavour: str, keywords: Mapping[str, Any]) -> Self:
        """The options of ``flavour`` from ``keywords``; :class:`InputError` naming every one
        the flavour does not take (as library options: the CLI shows its flags)."""
        unknown = sorted(name for name in keywords if not cls.takes(name))
        if unknown:
            fields = ", ".join("{" + name + "}" for name in unknown)
            verb, pronoun = ("does", "it") if len(unknown) == 1 else ("do", "them")
            raise InputError.naming(
                f"{fields} {verb} not apply to the {flavour} flavour; drop {pronoun}", *unknown
            )
        return cls(**keywords)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, checked again."""
        return dataclasses.replace(self, **changes)
