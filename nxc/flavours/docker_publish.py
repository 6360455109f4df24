"""Old import path of :mod:`nxc.flavours.docker.publish`, kept for tests/nix until they import
the new one (then this module goes)."""

from nxc.flavours.docker.publish import ExtraVolume, PublishedPort

__all__ = ["ExtraVolume", "PublishedPort"]
