"""The record names the ``nxc start`` process that writes it; a dead starter is noticed.

Real processes only: a child started and reaped by the test stands for the dead starter.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from nxc.deployment import (
    Deployment,
    DeploymentState,
    DeploymentStore,
    process_alive,
    process_identity,
)
from nxc.errors import DeploymentRecordError


def dead_identity() -> dict[str, int]:
    """The identity of a process that ran and was reaped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    identity = process_identity(child.pid)
    child.kill()
    child.wait()
    return identity


def test_identity_of_this_process_is_alive() -> None:
    identity = process_identity()
    assert identity["start_time"] > 0
    assert process_alive(identity)


def test_a_reaped_process_is_gone() -> None:
    assert not process_alive(dead_identity())


def test_a_reused_pid_with_another_start_time_is_gone() -> None:
    identity = process_identity()
    assert not process_alive({"pid": identity["pid"], "start_time": identity["start_time"] + 1})


def test_started_by_round_trips_and_tells_a_gone_starter(tmp_path) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    record = Deployment("comp", "vm", state=DeploymentState.starting, started_by=dead_identity())
    store.save(record)
    loaded = store.load("comp::vm")
    assert loaded.started_by == record.started_by
    assert loaded.starter_gone
    loaded.started_by = process_identity()
    assert not loaded.starter_gone
    loaded.started_by = dead_identity()
    loaded.state = DeploymentState.running  # only a record still 'starting' waits on its starter
    assert not loaded.starter_gone


def test_a_record_without_started_by_is_not_gone(tmp_path) -> None:
    record = Deployment("comp", "vm", state=DeploymentState.starting)
    assert record.started_by is None and not record.starter_gone


@pytest.mark.parametrize("value", ['"x"', '{"pid": "1", "start_time": 2}', '{"pid": 1}'])
def test_a_malformed_started_by_is_a_corrupted_record(tmp_path, value: str) -> None:
    store = DeploymentStore(tmp_path / "deploy")
    store.save(Deployment("comp", "vm"))
    path = store.path_for("comp::vm")
    text = path.read_text().replace('"started_by": null', f'"started_by": {value}')
    path.write_text(text)
    with pytest.raises(DeploymentRecordError, match="started_by"):
        store.load("comp::vm")
