"""The resumable sweep state (:mod:`nxc.bench.state`) on execo's real ``ParamSweeper`` and its
files; a run left in progress by a process that died is simulated by a state closed without
marking it done or cancelled, and the lock by a second state on the same folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.bench.state import (
    RunKey,
    SweepBusyError,
    SweepChangedError,
    SweepState,
    groups_of,
    run_keys,
)
from nxc.bench.sweep import SweepSpec

DEFINITION = {"tool": "fio", "groups": ["bs=4k"], "repeat": 2}
NUMBERS = {"write": {"node1": {"bandwidth": 1.0}}}


def test_groups_keep_operations_in_order_and_runs_go_repeat_by_repeat() -> None:
    groups = groups_of(SweepSpec.parse("4k,1M", clients="1,2").points(2))
    assert [(g.block_size, g.clients, g.operations) for g in groups] == [
        (4096, 1, ("write", "read")), (4096, 2, ("write", "read")),
        (1 << 20, 1, ("write", "read")), (1 << 20, 2, ("write", "read")),
    ]  # fmt: skip
    keys = run_keys(2, repeat=2, local=True)
    assert keys[:3] == [RunKey(0, 0, "fs"), RunKey(0, 0, "local"), RunKey(1, 0, "fs")]
    assert keys[-1] == RunKey(1, 1, "local") and len(keys) == 8
    assert {key.target for key in run_keys(2, 1, local=False)} == {"fs"}


def test_runs_done_stay_done_and_one_in_progress_is_redone(tmp_path: Path) -> None:
    keys = run_keys(2, repeat=1, local=False)
    with SweepState(tmp_path / "s", DEFINITION, keys) as state:
        assert state.open() == 0
        first = state.next()
        assert first == keys[0]
        state.done(first, NUMBERS)
        assert state.next() == keys[1]  # then the process dies: neither done nor cancelled
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "definition.json", "done", "inprogress", "lock", "runs", "sweeps",
    ]  # fmt: skip
    with SweepState(tmp_path / "s", DEFINITION, keys) as state:
        assert state.open() == 1 and state.pending() == 1
        assert state.numbers(keys[0]) == NUMBERS
        assert state.next() == keys[1]
        state.cancel(keys[1])
        assert state.next() == keys[1]
        state.done(keys[1], NUMBERS)
        assert state.next() is None and state.pending() == 0


def test_the_files_are_execos_own(tmp_path: Path) -> None:
    """What is done reads back through a ParamSweeper of another process."""
    keys = run_keys(3, repeat=1, local=False)
    with SweepState(tmp_path / "s", DEFINITION, keys) as state:
        state.open()
        state.done(state.next() or keys[0], NUMBERS)
    script = (
        "import sys; from execo_engine.sweep import ParamSweeper; "
        "s = ParamSweeper(sys.argv[1]); print(len(s.get_done()), len(s.get_remaining()))"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s")],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.split() == ["1", "2"]


def test_a_second_process_on_the_same_sweep_is_refused(tmp_path: Path) -> None:
    keys = run_keys(1, 1, local=False)
    with SweepState(tmp_path / "s", DEFINITION, keys) as first:
        first.open()
        with pytest.raises(SweepBusyError, match="another nxc bench is running this sweep"):
            SweepState(tmp_path / "s", DEFINITION, keys).open()
    with SweepState(tmp_path / "s", DEFINITION, keys) as again:
        assert again.open() == 0


def test_another_definition_is_refused_once_a_run_is_done(tmp_path: Path) -> None:
    keys = run_keys(1, 2, local=False)
    other = {**DEFINITION, "repeat": 3}
    with SweepState(tmp_path / "s", DEFINITION, keys) as state:
        state.open()
    # nothing measured yet: the new definition replaces the old one
    with SweepState(tmp_path / "s", other, keys) as state:
        state.open()
        state.done(state.next() or keys[0], NUMBERS)
    stored = json.loads((tmp_path / "s" / "definition.json").read_text())
    assert stored == other
    with (
        SweepState(tmp_path / "s", DEFINITION, keys) as state,
        pytest.raises(SweepChangedError, match=r"defined otherwise \(repeat differ\)"),
    ):
        state.open()
    with SweepState(tmp_path / "s", DEFINITION, keys) as state:
        assert state.open(restart=True) == 0 and state.pending() == 2
