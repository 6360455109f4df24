"""The deployment journal on real files, written by real concurrent processes."""

from __future__ import annotations

import json
import multiprocessing
import os
from datetime import datetime
from pathlib import Path

import pytest

from nxc.deployment import DeploymentStore
from nxc.errors import JournalError
from nxc.journal import (
    CommandEvent,
    Journal,
    NodesAdded,
    NodesFailed,
    NodesRemoved,
    NodesRepaired,
    PhaseEvent,
    ProvenanceEvent,
    phase,
)

NAME = "composition::vm"
WRITERS = 4
EVENTS_EACH = 200


def journal(tmp_path: Path) -> Journal:
    return Journal(DeploymentStore(tmp_path / "deploy"), NAME)


def _append_many(deploy_dir: str, writer: int) -> None:
    target = Journal(DeploymentStore(Path(deploy_dir)), NAME)
    padding = "x" * (500 + 300 * writer)  # lines of different lengths, some > 1 KiB
    for index in range(EVENTS_EACH):
        target.append(NodesFailed(reasons={f"w{writer}-{index}": padding}))


def test_every_kind_round_trips_with_time_and_deployment(tmp_path):
    target = journal(tmp_path)
    written = [
        target.append(CommandEvent.current()),
        target.append(PhaseEvent(name="boot", seconds=1.5)),
        target.append(NodesAdded(hostnames=["node1", "node2"])),
        target.append(NodesFailed(reasons={"node2": "no SSH after 300 s"})),
        target.append(NodesRepaired(hostnames=["node2"])),
        target.append(NodesRemoved(hostnames=["node1", "node2"])),
        target.append(ProvenanceEvent(provenance={"nxc_version": "0.1.0"})),
    ]
    assert target.path == tmp_path / "deploy" / f"{NAME}.journal.jsonl"
    contents = target.read()
    assert contents.events == tuple(written)
    assert contents.torn_line is None
    assert all(event.deployment == NAME for event in contents.events)
    for event in contents.events:
        assert event.time.endswith("Z")
        assert datetime.fromisoformat(event.time).utcoffset().total_seconds() == 0
    command = contents.events[0]
    assert isinstance(command, CommandEvent)
    assert command.pid == os.getpid() and command.cwd == os.getcwd()
    kinds = [json.loads(line)["kind"] for line in target.path.read_text().splitlines()]
    assert kinds == [
        "command",
        "phase",
        "nodes_added",
        "nodes_failed",
        "nodes_repaired",
        "nodes_removed",
        "provenance",
    ]


def test_concurrent_processes_never_interleave(tmp_path):
    deploy_dir = tmp_path / "deploy"
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_append_many, args=(str(deploy_dir), writer))
        for writer in range(WRITERS)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    events = Journal(DeploymentStore(deploy_dir), NAME).events()
    assert len(events) == WRITERS * EVENTS_EACH
    seen = {host for event in events if isinstance(event, NodesFailed) for host in event.reasons}
    assert seen == {f"w{w}-{i}" for w in range(WRITERS) for i in range(EVENTS_EACH)}
    for writer in range(WRITERS):  # each writer's own events stay in its order
        mine = [
            int(host.split("-")[1])
            for event in events
            if isinstance(event, NodesFailed)
            for host in event.reasons
            if host.startswith(f"w{writer}-")
        ]
        assert mine == list(range(EVENTS_EACH))


def test_torn_last_line_is_skipped_and_reported_then_cut_by_the_next_append(tmp_path):
    target = journal(tmp_path)
    target.append(NodesAdded(hostnames=["node1"]))
    target.append(NodesAdded(hostnames=["node2"]))
    whole = target.path.read_bytes()
    line = json.dumps(NodesRemoved(hostnames=["node1"], deployment=NAME).to_dict()).encode()
    with target.path.open("ab") as file:
        file.write(line[: len(line) // 2])  # a writer died half way through its line
    contents = target.read()
    assert [event.hostnames for event in contents.events] == [["node1"], ["node2"]]
    assert contents.torn_line == 3
    target.append(NodesRepaired(hostnames=["node2"]))
    assert target.path.read_bytes().startswith(whole)
    contents = target.read()
    assert contents.torn_line is None
    assert [event.kind for event in contents.events] == [
        "nodes_added",
        "nodes_added",
        "nodes_repaired",
    ]


def test_corrupt_middle_line_is_refused_naming_file_and_line(tmp_path):
    target = journal(tmp_path)
    for host in ("node1", "node2", "node3"):
        target.append(NodesAdded(hostnames=[host]))
    lines = target.path.read_text().splitlines(keepends=True)
    lines[1] = lines[1][:20] + "#garbage#" + lines[1][20:]
    target.path.write_text("".join(lines))
    with pytest.raises(JournalError) as caught:
        target.read()
    message = str(caught.value)
    assert str(target.path) in message and "line 2 " in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{"kind": "mystery", "time": "t", "deployment": "d"}', "unknown event kind 'mystery'"),
        ('{"kind": "phase", "time": "t", "deployment": "d", "name": "boot"}', "bad phase event"),
        (
            '{"kind": "command", "time": "t", "deployment": "d", "argv": "nxc start",'
            ' "cwd": "/", "user": "u", "pid": 1}',
            "field 'argv'",
        ),
        (
            '{"kind": "nodes_failed", "time": "t", "deployment": "d", "reasons": {"n": 1}}',
            "field 'reasons'",
        ),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_lines_of_the_wrong_shape_are_refused(tmp_path, line, says):
    target = journal(tmp_path)
    target.path.parent.mkdir(parents=True)
    target.path.write_text(line + "\n")
    with pytest.raises(JournalError, match="line 1") as caught:
        target.read()
    assert says in str(caught.value)


def test_missing_journal_reads_empty_and_an_event_of_another_deployment_is_refused(tmp_path):
    target = journal(tmp_path)
    assert not target.exists()
    assert target.read().events == ()
    with pytest.raises(JournalError, match="other::vm"):
        target.append(NodesAdded(hostnames=["node1"], deployment="other::vm"))
    assert not target.exists()


def test_phase_records_duration_and_failure(tmp_path):
    target = journal(tmp_path)
    with phase(target, "build"):
        pass
    with pytest.raises(RuntimeError, match="boom"), phase(target, "boot"):
        raise RuntimeError("boom")
    build, boot = target.events()
    assert isinstance(build, PhaseEvent) and isinstance(boot, PhaseEvent)
    assert (build.name, build.ok) == ("build", True)
    assert (boot.name, boot.ok) == ("boot", False)
    assert 0 <= build.seconds < 5


def test_last_finds_the_newest_of_a_kind(tmp_path):
    target = journal(tmp_path)
    assert target.last(ProvenanceEvent) is None
    target.append(ProvenanceEvent(provenance={"n": 1}))
    target.append(NodesAdded(hostnames=["node1"]))
    target.append(ProvenanceEvent(provenance={"n": 2}))
    newest = target.last(ProvenanceEvent)
    assert newest is not None and newest.provenance == {"n": 2}


def test_a_journal_that_cannot_be_written_does_not_hide_the_phases_error(tmp_path):
    target = journal(tmp_path)
    target.path.mkdir(parents=True)  # a folder where the file should be: open() fails
    with pytest.raises(RuntimeError, match="boom"), phase(target, "boot"):
        raise RuntimeError("boom")
    with (
        pytest.raises(JournalError, match="cannot open for writing") as caught,
        phase(target, "boot"),
    ):
        pass
    assert str(target.path) in str(caught.value)
