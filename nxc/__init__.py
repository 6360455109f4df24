"""nxc: compose reproducible distributed environments with Nix.

The public Python API, for experiment scripts and execo engines::

    import nxc

    with nxc.open_deployment() as env:
        env.run("hostname", roles=["server"]).check()

Everything listed in ``__all__`` is public: the deployment handle, the per-host results of group
operations, and every error nxc raises on purpose (one tree rooted in :class:`NxcError`, see
:mod:`nxc.errors`). Other modules are nxc's own and may change between releases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nxc.errors import (
    DeploymentActiveError,
    DeploymentLockedError,
    DeploymentRecordError,
    ExternalCommandError,
    HostKeyMismatchError,
    InputError,
    JournalError,
    MachineError,
    MachineFileError,
    ManifestError,
    MissingToolError,
    NixpkgsUnreachableError,
    NixTooOldError,
    NodeTimeoutError,
    NodeUnusableError,
    NxcError,
    OarJobError,
    PollingConditionError,
    ProjectError,
    RemoteToolMissingError,
    RequestedAssertionFailed,
    ResourceLimitError,
    RolesError,
    SweepBusyError,
    SweepChangedError,
    TestScriptError,
    TransportError,
    UnsafeRecordError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from nxc.api import Environment, open_deployment, start
    from nxc.fanout import GroupResult, HostResult
    from nxc.resize import Resize

__version__ = "0.1.0"

_LAZY = {
    "Environment": "nxc.api",
    "open_deployment": "nxc.api",
    "start": "nxc.api",
    "GroupResult": "nxc.fanout",
    "HostResult": "nxc.fanout",
    "Resize": "nxc.resize",
}
"""Public names imported on first use, so that ``import nxc`` (and the CLI) stay fast."""

__all__ = [
    "DeploymentActiveError",
    "DeploymentLockedError",
    "DeploymentRecordError",
    "Environment",
    "ExternalCommandError",
    "GroupResult",
    "HostKeyMismatchError",
    "HostResult",
    "InputError",
    "JournalError",
    "MachineError",
    "MachineFileError",
    "ManifestError",
    "MissingToolError",
    "NixTooOldError",
    "NixpkgsUnreachableError",
    "NodeTimeoutError",
    "NodeUnusableError",
    "NxcError",
    "OarJobError",
    "PollingConditionError",
    "ProjectError",
    "RemoteToolMissingError",
    "RequestedAssertionFailed",
    "Resize",
    "ResourceLimitError",
    "RolesError",
    "SweepBusyError",
    "SweepChangedError",
    "TestScriptError",
    "TransportError",
    "UnsafeRecordError",
    "UnsupportedOperationError",
    "__version__",
    "open_deployment",
    "start",
]


def __getattr__(name: str) -> Any:
    """Import the lazily loaded public names on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nxc' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
