"""Transports: how nxc runs commands and copies files on a deployment's nodes.

:mod:`nxc.transport.base` defines the :class:`~nxc.transport.base.Transport` interface;
:mod:`nxc.transport.ssh` implements it on asyncssh. A flavour picks its transport
(``Flavour.transport``); see docs/transport.md.
"""
