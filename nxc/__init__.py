"""nxc: compose reproducible distributed environments with Nix.

The public Python API for experiment scripts grows here; see ``__all__``.
"""

from nxc.errors import NxcError

__version__ = "0.1.0"

__all__ = ["NxcError", "__version__"]
