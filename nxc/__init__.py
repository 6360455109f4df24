"""nxc: compose reproducible distributed environments with Nix.

The public Python API, for experiment scripts and execo engines::

    import nxc

    with nxc.open_deployment() as env:
        env.run("hostname", roles=["server"]).check()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nxc.errors import NxcError

if TYPE_CHECKING:
    from nxc.api import Environment, open_deployment

__version__ = "0.1.0"

__all__ = ["Environment", "NxcError", "__version__", "open_deployment"]


def __getattr__(name: str) -> Any:
    """Import the API lazily, so that ``import nxc`` (and the CLI) stay fast."""
    if name in ("Environment", "open_deployment"):
        from nxc import api

        return getattr(api, name)
    raise AttributeError(f"module 'nxc' has no attribute {name!r}")
