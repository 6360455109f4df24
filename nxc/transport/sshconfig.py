"""Which OpenSSH client configuration nxc honours when it reaches a deployment's nodes.

Local nodes (vm, docker) are reached with nothing but the deployment's key and pinned host
keys: :data:`NO_CONFIG`. Grid'5000 nodes are reached the way the user's OpenSSH reaches the
hosts they boot on (``~/.ssh/config``, or the file of ``nxc start --ssh-config``), so that a
``ProxyJump`` through the site's access machine works from outside Grid'5000; the
deployment's key, user and pinned host keys still override whatever the file says for them.
The choice is recorded in the deployment's resources under ``ssh_config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

SshConfig = tuple[str, ...] | None
"""``None``: no configuration; ``()``: the user's ``~/.ssh/config``; ``(path,)``: that file."""

NO_CONFIG: SshConfig = None
USER_CONFIG: SshConfig = ()
RECORD_KEY = "ssh_config"


def config_file(path: Path | None) -> SshConfig:
    """The configuration of ``--ssh-config PATH``, or the user's own without it."""
    return USER_CONFIG if path is None else (str(Path(path).absolute()),)


def to_record(config: SshConfig) -> list[str] | None:
    """JSON-ready form for a deployment's resources."""
    return None if config is None else list(config)


def from_record(resources: Mapping[str, Any] | None) -> SshConfig:
    """The configuration a deployment recorded (none if it recorded nothing)."""
    value = (resources or {}).get(RECORD_KEY)
    return None if value is None else tuple(str(item) for item in value)


def asyncssh_config(config: SshConfig) -> Any:
    """The ``config`` argument of ``asyncssh.connect`` for ``config``."""
    return None if config is None else list(config)


def openssh_options(config: SshConfig) -> list[str]:
    """OpenSSH options selecting ``config``: ``-F FILE`` for a file; OpenSSH reads the user's
    own by default (and the options nxc gives override it for the node itself)."""
    return ["-F", config[0]] if config else []
