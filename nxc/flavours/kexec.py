"""Old import path of :mod:`nxc.flavours.g5k.kexec`, kept for :mod:`nxc.platforms.broadcast`
until it imports the new one (then this module goes)."""

from nxc.flavours.g5k.kexec import (
    _DIGEST_RE,
    PUSH_TIMEOUT,
    REMOTE_DIR,
    HostShell,
    _receive,
    push_artefacts,
)

__all__ = ["PUSH_TIMEOUT", "REMOTE_DIR", "_DIGEST_RE", "HostShell", "_receive", "push_artefacts"]
