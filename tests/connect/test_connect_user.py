"""``nxc connect -l USER`` (NixOS-Compose's login user): a namespace host's real sshd logs
the session in as that user with the deployment's key (sshd's AuthorizedKeysFile is shared by
every user, as /run/nxc/authorized_keys is on the nodes). The namespace hosts share this
machine's users, so the user is one of its accounts."""

from __future__ import annotations

import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.recorded import recorded_project

NOLOGIN_MESSAGE = "This account is currently not available."
"""What nologin(8) prints: the session did log in as that user, whose shell refuses."""


def nologin_user() -> str:
    """``nobody``: on Debian an account with nologin as shell and no locked password (sshd
    without PAM refuses locked accounts, such as every other user of a test machine)."""
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody on this machine")
    if Path(entry.pw_shell).name != "nologin":
        pytest.skip(f"nobody's shell is {entry.pw_shell}, not nologin")
    return entry.pw_name


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One node; its sshd's files in a folder other users may read (sshd reads the
    authorized keys as the user logging in; pytest's folders are root's only)."""
    root = tmp_path_factory.mktemp("project")
    nodes = Path(tempfile.mkdtemp(prefix="nxc-connect-user-"))
    try:
        nodes.chmod(0o755)
        with recorded_project(root, nodes, ["node"]) as project:
            yield project
    finally:
        shutil.rmtree(nodes, ignore_errors=True)


def connect(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", "-d", str(root), "connect", *args],
        capture_output=True,
        text=True,
        timeout=60,
        input="echo I-am-$(id -un)\nexit\n",
    )


def test_l_logs_in_as_that_user(project):
    done = connect(project, "-l", nologin_user(), "node1")
    assert NOLOGIN_MESSAGE in done.stdout + done.stderr, done.stderr
    assert done.returncode == 1  # nologin's exit status, through ssh


def test_default_user_is_root(project):
    done = connect(project, "node1")
    assert done.returncode == 0, done.stderr
    assert "I-am-root" in done.stdout


def test_bad_user_name_is_one_line(project):
    done = connect(project, "-l", "-oProxyCommand=x", "node1")
    assert done.returncode == 2
    assert done.stderr == (
        "nxc: error: -l/--user '-oProxyCommand=x' is not a user name; give one such as root "
        "or alice\n"
    )
