"""Which OpenSSH client configuration nxc honours when it reaches a deployment's nodes.

Local nodes (vm, docker) are reached with nothing but the deployment's key and pinned host
keys: :data:`NO_CONFIG`. Grid'5000 nodes are reached the way the user's OpenSSH reaches the
hosts they boot on (``~/.ssh/config``, or the file of ``nxc start --ssh-config``), so that a
``ProxyJump`` through the site's access machine works from outside Grid'5000; the
deployment's key, user and pinned host keys still override whatever the file says for them.
The choice is recorded in the deployment's resources under ``ssh_config``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nxc.errors import InputError

SshConfig = tuple[str, ...] | None
"""``None``: no configuration; ``()``: the user's ``~/.ssh/config``; ``(path,)``: that file."""

NO_CONFIG: SshConfig = None
USER_CONFIG: SshConfig = ()
RECORD_KEY = "ssh_config"


_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?")
"""A login name as useradd accepts it (no '@', no leading '-': it goes into ssh's argv)."""


def check_user_name(user: str, where: str) -> str:
    """``user`` if it is a login name; :class:`InputError` naming ``where`` otherwise."""
    if not _USER_NAME.fullmatch(user):
        raise InputError(f"{where} {user!r} is not a user name; give one such as root or alice")
    return user


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
