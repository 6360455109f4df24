"""Deployment records: format, validation, atomic saves, locking between real processes."""

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from nxc.atomic import write_atomic
from nxc.deployment import (
    Deployment,
    DeploymentState,
    DeploymentStore,
    Node,
    NodeState,
    deployment_name,
    parse_name,
)
from nxc.errors import DeploymentLockedError, DeploymentRecordError, InputError

REPO = Path(__file__).resolve().parents[2]


def make_deployment(tag: str | None = None, count: int = 3, created_at: float = 1000.0):
    nodes = [
        Node(
            hostname=f"node{i}",
            role="server" if i == 1 else "client",
            address=f"10.23.0.{i}",
            ssh_host="127.0.0.1",
            ssh_port=22000 + i,
            host_key=f"ssh-ed25519 AAAAkey{i}",
            mac=f"52:54:00:17:00:0{i}",
        )
        for i in range(1, count + 1)
    ]
    return Deployment(
        "composition", "vm", tag, nodes, manifest="/p/build/m.json", created_at=created_at
    )


@pytest.fixture
def store(tmp_path):
    return DeploymentStore(tmp_path / "deploy", lock_timeout=5)


@pytest.fixture
def processes():
    """Processes a test starts; killed (by pid) and reaped even if the test fails."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def spawn(processes, code: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    processes.append(process)
    return process


# --- names ---------------------------------------------------------------------------------


def test_names_with_and_without_tag(store):
    assert make_deployment().name == "composition::vm"
    assert make_deployment("run-2.b").name == "composition::vm::run-2.b"
    assert parse_name("composition::vm::run-2.b") == ("composition", "vm", "run-2.b")
    assert parse_name("c::docker") == ("c", "docker", None)
    assert store.path_for("c::vm::t").name == "c::vm::t.json"


@pytest.mark.parametrize(
    "name",
    [
        "composition",
        "a::b::c::d",
        "a::",
        "::vm",
        "a/b::vm",
        "..::vm",
        "a::vm::.hidden",
        "a b::vm",
        "",
    ],
)
def test_invalid_names_are_rejected(store, name):
    with pytest.raises(InputError, match="invalid deployment"):
        store.path_for(name)


def test_invalid_tag_in_a_deployment():
    with pytest.raises(InputError, match=r"invalid deployment tag '\.\./x'"):
        deployment_name("c", "vm", "../x")


# --- records -------------------------------------------------------------------------------


def test_save_and_load_round_trip(store):
    deployment = make_deployment("t1")
    deployment.state = DeploymentState.running
    deployment.node("node2").state = NodeState.ready
    deployment.node("node2").pid = 4242
    deployment.node("node2").extra = {"console": "/x/node2.log"}
    deployment.resources = {"pids": [1, 2], "vde": {"socket": "/x/vde.ctl"}}
    store.save(deployment)
    assert store.load("composition::vm::t1") == deployment
    data = json.loads(store.path_for(deployment.name).read_text())
    assert data["nxc_deployment"] == 1
    assert data["nodes"][1]["state"] == "ready"


def test_save_stamps_updated_at_and_keeps_created_at(store):
    deployment = make_deployment(created_at=1000.0)
    before = time.time()
    store.save(deployment)
    loaded = store.load(deployment.name)
    assert loaded.created_at == 1000.0
    assert loaded.updated_at >= before


def test_load_missing_record_lists_the_recorded_ones(store):
    store.save(make_deployment("a"))
    with pytest.raises(DeploymentRecordError, match=r"no deployment 'c::vm'.*composition::vm::a"):
        store.load("c::vm")


def test_state_folder_and_key_paths(store):
    folder = store.state_dir("composition::vm")
    assert folder == store.deploy_dir / "composition::vm.d"
    assert folder.stat().st_mode & 0o777 == 0o700
    private = store.secret_dir("composition::vm")
    assert store.client_key_path("composition::vm").parent == private
    assert store.deploy_dir.parent not in private.parents  # never inside the project
    assert private.stat().st_mode & 0o777 == 0o700
    assert store.holds_secrets(private / "nodes" / "node1.host_key")
    assert not store.holds_secrets(folder)
    assert DeploymentStore(store.deploy_dir.parent / "elsewhere").secrets_dir != store.secrets_dir
    store.remove_secrets()
    assert not private.exists()
    assert store.known_hosts_path("composition::vm") == folder / "known_hosts"
    assert store.log_dir("composition::vm").is_dir()


def test_latest_uses_recorded_times_not_file_times(store):
    newer = make_deployment("newer", created_at=2000.0)
    older = make_deployment("older", created_at=1000.0)
    other_flavour = Deployment("composition", "docker", created_at=1500.0)
    store.save(newer)
    store.save(other_flavour)
    store.save(older)  # the most recently written file
    os.utime(store.path_for(newer.name), (1, 1))
    assert store.latest().name == "composition::vm::newer"
    assert store.latest(flavour="docker").name == "composition::docker"
    assert [d.name for d in store.list()] == [
        "composition::vm::older",
        "composition::docker",
        "composition::vm::newer",
    ]
    with pytest.raises(DeploymentRecordError, match=r"no deployment with flavour 'g5k-image'"):
        store.latest(flavour="g5k-image")


def test_latest_with_no_record(store):
    with pytest.raises(DeploymentRecordError, match="start one with 'nxc start'"):
        store.latest()


def test_names_ignore_other_files(store):
    store.save(make_deployment())
    (store.deploy_dir / "notes.json").write_text("{}")
    (store.deploy_dir / ".composition::vm.json.abc.tmp").write_text("{")
    assert store.names() == ["composition::vm"]


def test_remove_deletes_record_state_and_lock(store):
    deployment = make_deployment()
    store.save(deployment)
    store.known_hosts_path(deployment.name).write_text("x")
    with store.lock(deployment.name):
        pass
    store.remove(deployment.name)
    assert list(store.deploy_dir.iterdir()) == []


def test_node_and_role_lookup():
    deployment = make_deployment()
    assert deployment.node("node3").address == "10.23.0.3"
    assert [n.hostname for n in deployment.nodes_by_role("client")] == ["node2", "node3"]
    assert deployment.roles() == {"server": ["node1"], "client": ["node2", "node3"]}
    with pytest.raises(InputError, match=r"no node 'node9'; its nodes are: node1, node2, node3"):
        deployment.node("node9")
    with pytest.raises(InputError, match=r"no role 'db'; its roles are: server, client"):
        deployment.nodes_by_role("db")


def valid_record() -> dict:
    return make_deployment().to_dict()


def corrupt(edit):
    data = valid_record()
    edit(data)
    return json.dumps(data)


CORRUPTIONS = {
    "not json": ('{"nxc_deployment": 1,', r":1:22: corrupted record, not valid JSON"),
    "empty file": ("", r":1:1: corrupted record, not valid JSON"),
    "a list": ("[]", r"record must be a JSON object, not a list"),
    "no version": (corrupt(lambda d: d.pop("nxc_deployment")), r"missing key 'nxc_deployment'"),
    "newer format": (corrupt(lambda d: d.update(nxc_deployment=2)), r"upgrade nxc"),
    "missing nodes": (corrupt(lambda d: d.pop("nodes")), r"missing key 'nodes'"),
    "bad state": (corrupt(lambda d: d.update(state="exploded")), r"'state' is 'exploded'"),
    "port as string": (
        corrupt(lambda d: d["nodes"][0].update(ssh_port="22")),
        r"'nodes\[0\].ssh_port' must be an integer, not a string",
    ),
    "port out of range": (
        corrupt(lambda d: d["nodes"][1].update(ssh_port=70000)),
        r"'nodes\[1\].ssh_port' is 70000, not a TCP port",
    ),
    "bool pid": (
        corrupt(lambda d: d["nodes"][0].update(pid=True)),
        r"'nodes\[0\].pid' must be an integer, not a boolean",
    ),
    "node not object": (corrupt(lambda d: d["nodes"].append("node4")), r"nodes\[3\] must be"),
    "missing hostname": (corrupt(lambda d: d["nodes"][2].pop("hostname")), r"'nodes\[2\].host"),
    "duplicate hostnames": (
        corrupt(lambda d: d["nodes"][1].update(hostname="node1")),
        r"duplicate node hostnames: node1",
    ),
    "resources not object": (corrupt(lambda d: d.update(resources=[])), r"'resources' must be"),
    "time as string": (corrupt(lambda d: d.update(created_at="now")), r"'created_at' must be"),
    "time past 9999": (corrupt(lambda d: d.update(updated_at=1e20)), r"'updated_at' must be a t"),
    "time not a number": (corrupt(lambda d: d.update(created_at=float("nan"))), r"'created_at'"),
    "bad flavour name": (corrupt(lambda d: d.update(flavour="v/m")), r"invalid deployment flav"),
    "other name": (corrupt(lambda d: d.update(tag="x")), r"describes 'composition::vm::x'"),
}


@pytest.mark.parametrize("content, expected", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupted_record_names_file_problem_and_fix(store, content, expected):
    store.deploy_dir.mkdir()
    path = store.path_for("composition::vm")
    path.write_text(content)
    with pytest.raises(DeploymentRecordError) as caught:
        store.load("composition::vm")
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "fix or delete the file" in message
    assert "\n" not in message
    assert re.search(expected, message), message


# --- atomic writes -------------------------------------------------------------------------


def test_write_atomic_replaces_content_and_sets_mode(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")
    write_atomic(path, "new", mode=0o600)
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_write_atomic_failure_leaves_the_target_and_no_temp(tmp_path):
    """The final rename really fails (the target is a folder that is not empty)."""
    target = tmp_path / "f"
    target.mkdir()
    (target / "kept").write_text("old")
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert (target / "kept").read_text() == "old"
    assert os.listdir(tmp_path) == ["f"]


CRASH_DURING_SAVE = """
    import os, signal, sys
    from pathlib import Path
    from nxc.deployment import DeploymentStore
    store = DeploymentStore(Path(sys.argv[1]))
    deployment = store.load("composition::vm")
    deployment.resources["half"] = "x" * 1_000_000
    real_fdopen = os.fdopen
    class DiesHalfWay:
        def __init__(self, file):
            self.file = file
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.file.__exit__(*exc)
        def write(self, data):
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    os.fdopen = lambda fd, mode: DiesHalfWay(real_fdopen(fd, mode))
    store.save(deployment)
"""


def test_crash_mid_write_keeps_the_previous_record(store, processes):
    """The writer is SIGKILLed half-way through writing the new content (a real crash)."""
    deployment = make_deployment()
    store.save(deployment)
    before = store.path_for(deployment.name).read_bytes()
    child = spawn(processes, CRASH_DURING_SAVE, str(store.deploy_dir))
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.read()
    assert store.path_for(deployment.name).read_bytes() == before
    assert store.load(deployment.name) == deployment
    leftovers = [p.name for p in store.deploy_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "the crash should have happened while the temp file was being written"
    assert store.names() == ["composition::vm"]


HAMMER_SAVES = """
    import sys
    from pathlib import Path
    from nxc.deployment import DeploymentStore
    store = DeploymentStore(Path(sys.argv[1]))
    deployment = store.load("composition::vm")
    saves = 0
    while True:
        deployment.resources["counter"] = deployment.resources.get("counter", 0) + 1
        deployment.resources["padding"] = "y" * (1000 * (deployment.resources["counter"] % 50))
        store.save(deployment)
        saves += 1
        if saves == 1:
            print("ready", flush=True)  # one save done: the kill lands among later ones
"""


def test_killing_a_writer_at_random_times_never_corrupts(store, processes):
    store.save(make_deployment())
    for round_number in range(5):
        child = spawn(processes, HAMMER_SAVES, str(store.deploy_dir))
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.03 * round_number)
        child.kill()
        child.wait(timeout=30)
        loaded = store.load("composition::vm")
        assert loaded.resources["counter"] >= 1


# --- locking -------------------------------------------------------------------------------

HOLD_LOCK = """
    import sys, time
    from pathlib import Path
    from nxc.deployment import DeploymentStore
    store = DeploymentStore(Path(sys.argv[1]))
    with store.lock("composition::vm"):
        print("locked", flush=True)
        time.sleep(120)
"""


def test_lock_held_by_another_process_times_out_naming_it(store, processes):
    holder = spawn(processes, HOLD_LOCK, str(store.deploy_dir))
    assert holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    with pytest.raises(DeploymentLockedError) as caught, store.lock("composition::vm", 0.3):
        pass
    assert 0.3 <= time.monotonic() - started < 3
    message = str(caught.value)
    assert f"pid {holder.pid}" in message
    assert "composition::vm.json" in message
    holder.kill()
    holder.wait(timeout=30)
    with store.lock("composition::vm", timeout=5):
        assert f"pid {os.getpid()}" in store.lock_path("composition::vm").read_text()


def test_lock_through_a_symlinked_folder_is_the_same_lock(store, tmp_path):
    store.deploy_dir.mkdir()
    (tmp_path / "alias").symlink_to(store.deploy_dir)
    alias = DeploymentStore(tmp_path / "alias", lock_timeout=0.2)
    with store.lock("composition::vm"), alias.lock("composition::vm"):
        pass


def test_lock_is_reentrant_in_one_thread(store):
    with store.lock("composition::vm", 0.2), store.lock("composition::vm", 0.2):
        store.save(make_deployment())
    with store.edit("composition::vm") as deployment:
        deployment.state = DeploymentState.running
    assert store.load("composition::vm").state == DeploymentState.running


def test_edit_does_not_save_when_the_block_fails(store):
    store.save(make_deployment())
    with pytest.raises(RuntimeError), store.edit("composition::vm") as deployment:
        deployment.state = DeploymentState.failed
        raise RuntimeError("launch failed")
    assert store.load("composition::vm").state == DeploymentState.planned


def test_waiter_relocks_after_the_lock_file_is_removed(store, processes, monkeypatch):
    """The race remove() opens: a waiter has opened the lock file, remove() unlinks it and
    releases, then the waiter's flock succeeds on the orphaned file. The waiter must notice
    and lock the new file, so that a third process is still excluded."""
    store.save(make_deployment())
    opened, removed, acquired, release = (threading.Event() for _ in range(4))
    real_flock = fcntl.flock

    def flock_after_removal(fd, operation):
        if threading.current_thread().name == "waiter" and not opened.is_set():
            opened.set()
            assert removed.wait(10)
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock_after_removal)

    def waiter():
        with store.lock("composition::vm", timeout=10):
            acquired.set()
            release.wait(30)

    waiting = threading.Thread(target=waiter, name="waiter")
    try:
        with store.lock("composition::vm"):
            waiting.start()
            assert opened.wait(10)
            store.remove("composition::vm")
        removed.set()
        assert acquired.wait(10)
        third = spawn(
            processes,
            """
            import sys
            from pathlib import Path
            from nxc.deployment import DeploymentStore
            from nxc.errors import DeploymentLockedError
            try:
                with DeploymentStore(Path(sys.argv[1])).lock("composition::vm", 0.3):
                    print("acquired")
            except DeploymentLockedError:
                print("excluded")
            """,
            str(store.deploy_dir),
        )
        out, _ = third.communicate(timeout=60)
        assert out.strip() == "excluded"
    finally:
        removed.set()
        release.set()
        waiting.join(30)


EDIT_LOOP = """
    import sys
    from pathlib import Path
    from nxc.deployment import DeploymentStore
    store = DeploymentStore(Path(sys.argv[1]), lock_timeout=60)
    who, rounds = sys.argv[2], int(sys.argv[3])
    for _ in range(rounds):
        with store.edit("composition::vm") as deployment:
            deployment.resources["counter"] += 1
            deployment.resources.setdefault(who, 0)
            deployment.resources[who] += 1
            deployment.node("node1").extra["last"] = who
"""


def test_concurrent_writers_never_lose_updates_or_corrupt(store, processes):
    rounds = 150
    deployment = make_deployment()
    deployment.resources["counter"] = 0
    store.save(deployment)
    writers = [spawn(processes, EDIT_LOOP, str(store.deploy_dir), who, str(rounds)) for who in "ab"]
    reads = 0
    while any(writer.poll() is None for writer in writers):
        loaded = store.load("composition::vm")  # lock-free readers always see a whole record
        assert 0 <= loaded.resources["counter"] <= 2 * rounds
        reads += 1
    for writer in writers:
        assert writer.returncode == 0, writer.stderr.read()
    final = store.load("composition::vm")
    assert final.resources["counter"] == 2 * rounds
    assert final.resources["a"] == final.resources["b"] == rounds
    assert reads > 10


@pytest.mark.parametrize(
    "operation",
    [
        lambda store: store.save(make_deployment()),
        lambda store: store.state_dir("composition::vm"),
        lambda store: store.lock("composition::vm").__enter__(),
    ],
    ids=["save", "state_dir", "lock"],
)
def test_deploy_folder_that_is_a_file_is_a_clear_error(tmp_path, operation):
    """A file in the way of deploy/ (or a read-only or full disk) gives one line, no OSError."""
    (tmp_path / "deploy").write_text("not a folder\n")
    store = DeploymentStore(tmp_path / "deploy", lock_timeout=1)
    with pytest.raises(DeploymentRecordError) as caught:
        operation(store)
    message = str(caught.value)
    assert "cannot write deployment state (" in message
    assert f"{tmp_path / 'deploy'} must be a folder you can write to" in message
    assert (tmp_path / "deploy").read_text() == "not a folder\n"
