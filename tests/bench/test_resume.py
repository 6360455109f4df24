"""An interrupted ``nxc bench fio`` sweep resumes where it stopped: a real SIGINT to the real
CLI mid-sweep, then the same command again, against namespace hosts running real sshd and
Debian's fio (``tests/recorded.py``); the state is execo's real ``ParamSweeper``."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.recorded import recorded_project

pytestmark = pytest.mark.skipif(shutil.which("fio") is None, reason="needs fio (Debian fio)")

GROUPS = 3 * 2  # sizes x client counts (one job count, one layout)
REPEAT = 3
RUNS = GROUPS * REPEAT  # each run: write then read


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose deployment is two client nodes (namespace hosts)."""
    root = tmp_path_factory.mktemp("project")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ["client", "client"]) as path:
        yield path


def _argv(project: Path, data: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "nxc", "-d", str(project), "bench", "fio", "--dir",
        f"{data}/{{host}}", "--sizes", "4k,64k,1M", "--clients", "1,2", "--size", "1M",
        "--repeat", str(REPEAT), "--no-local", "--output", "resumed", *extra,
    ]  # fmt: skip


def _progress_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("run ")]


def test_sigint_leaves_a_state_the_same_command_resumes(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    state = project / "artifact" / "bench" / "resumed.sweep"
    process = subprocess.Popen(_argv(project, data), stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        seen = [process.stderr.readline() for _ in range(5)]
        assert all(line.startswith("run 1/3 ") for line in seen), seen
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait(timeout=60) == 130, rest
    finally:
        process.kill()
        process.wait()
    assert "nxc: interrupted (SIGINT)" in rest
    assert f"finished runs are kept in {state}; run the same command again to resume" in rest
    assert "Traceback" not in rest
    done_before = len(list((state / "runs").glob("*.json")))
    assert 2 <= done_before < RUNS
    assert not (project / "artifact" / "bench" / "resumed.json").exists()
    # the interrupted run's files were removed all the same
    assert not any(path.is_file() for path in data.rglob("*"))

    resumed = subprocess.run(_argv(project, data), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    # only the runs not done before: each a write then a read
    assert len(_progress_lines(resumed.stderr)) == 2 * (RUNS - done_before)
    assert len(list((state / "runs").glob("*.json"))) == RUNS
    results = json.loads((project / "artifact" / "bench" / "resumed.json").read_text())["results"]
    assert len(results) == 2 * GROUPS
    assert all(r["repeats"] == REPEAT and len(r["runs"]) == REPEAT for r in results)
    # numbers of the runs done before the interrupt are kept, not measured again
    first = json.loads((state / "runs" / "r0-g0-fs.json").read_text())
    assert results[0]["runs"][0]["hosts"] == first["write"]

    again = subprocess.run(_argv(project, data), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert _progress_lines(again.stderr) == []
    rewritten = json.loads((project / "artifact" / "bench" / "resumed.json").read_text())
    assert rewritten["results"] == results


def test_changed_definition_is_refused_in_one_line_then_restarted(
    project: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    argv = [*_argv(project, data), "--output", "changed", "--sizes", "4k", "--clients", "1"]
    first = subprocess.run([*argv, "--repeat", "1"], capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    changed = subprocess.run(
        [*argv, "--repeat", "2", "--size", "2M"], capture_output=True, text=True, timeout=120
    )
    assert changed.returncode == 2
    assert changed.stderr.count("\n") == 1, changed.stderr
    state = project / "artifact" / "bench" / "changed.sweep"
    assert f"{state} holds a sweep defined otherwise (repeat, settings differ)" in changed.stderr
    assert "--restart" in changed.stderr
    restarted = subprocess.run(
        [*argv, "--repeat", "2", "--size", "2M", "--restart"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert restarted.returncode == 0, restarted.stderr
    assert len(_progress_lines(restarted.stderr)) == 2 * 2
    document = json.loads((project / "artifact" / "bench" / "changed.json").read_text())
    assert document["repeat"] == 2 and document["settings"]["size"] == 2 * 1024 * 1024


def _fio_running(hostname: str) -> bool:
    """Whether a fio of the sweep runs for ``hostname`` (namespace hosts share this machine's
    processes)."""
    found = subprocess.run(["pgrep", "-f", f"[-]-name=nxc-fio-{hostname}( |$)"],
                           capture_output=True)  # fmt: skip
    return found.returncode == 0


def test_interrupt_stops_the_tool_still_running_on_the_nodes(project: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = [*_argv(project, data), "--output", "long", "--sizes", "4k", "--clients", "2",
            "--rw", "write", "--runtime", "60", "--repeat", "1"]  # fmt: skip
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (_fio_running("node1") and _fio_running("node2")):
            assert process.poll() is None and time.monotonic() < deadline, "fio never started"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
    finally:
        process.kill()
        process.wait()
    # the killed ssh alone would leave both 60 s runs going; the clean-up stopped them
    assert not _fio_running("node1") and not _fio_running("node2")
    assert not any(path.is_file() for path in data.rglob("*"))
