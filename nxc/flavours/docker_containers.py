"""Old import path of :mod:`nxc.flavours.docker.containers`, kept for tests/nix until they import
the new one (then this module goes)."""

from nxc.flavours.docker.containers import role_containers

__all__ = ["role_containers"]
