"""Which OpenSSH configuration reaches nodes, as recorded in a deployment and given to ssh."""

from __future__ import annotations

import json
from pathlib import Path

from nxc.transport import sshconfig


def test_local_flavours_record_nothing_and_use_no_configuration() -> None:
    assert sshconfig.from_record({}) is sshconfig.NO_CONFIG
    assert sshconfig.from_record(None) is sshconfig.NO_CONFIG
    assert sshconfig.asyncssh_config(sshconfig.NO_CONFIG) is None


def test_the_users_own_configuration_round_trips_through_a_record() -> None:
    config = sshconfig.config_file(None)
    stored = json.loads(json.dumps({"ssh_config": sshconfig.to_record(config)}))
    assert sshconfig.from_record(stored) == ()
    assert sshconfig.asyncssh_config(()) == []  # asyncssh: the default ~/.ssh/config
    assert sshconfig.openssh_options(()) == []  # OpenSSH reads it by default


def test_a_given_file_is_absolute_and_passed_with_dash_f(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = sshconfig.config_file(Path("site.conf"))
    assert config == (str(tmp_path / "site.conf"),)
    stored = json.loads(json.dumps({"ssh_config": sshconfig.to_record(config)}))
    assert sshconfig.from_record(stored) == config
    assert sshconfig.asyncssh_config(config) == [str(tmp_path / "site.conf")]
    assert sshconfig.openssh_options(config) == ["-F", str(tmp_path / "site.conf")]
