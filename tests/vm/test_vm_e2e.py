"""The vm flavour end to end: real QEMU (TCG), real VDE switch, the test-bed guest, real SSH."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nxc import keys
from nxc.deploy import live_states, start_deployment, stop_deployment
from nxc.deployment import Deployment, DeploymentState
from nxc.errors import ExternalCommandError, NodeTimeoutError
from nxc.flavours import LiveState, Stage
from nxc.flavours.vm.flavour import VmFlavour
from nxc.flavours.vm.options import VmOptions
from nxc.journal import Journal, NodesAdded, PhaseEvent, ProvenanceEvent
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.vm.conftest import VmProject, marked_processes, nxc

pytestmark = pytest.mark.vm


def start(
    project: VmProject,
    cleanup: list,
    count: int,
    tag: str | None = None,
    parameters: dict[str, str] | None = None,
    **options,
) -> Deployment:
    manifest = project.manifest()
    quantities = parse_role_options([f"node={count}"])
    plan = plan_nodes(manifest, None, quantities, tag=tag, parameters=parameters)
    cleanup.append((project.store, plan.deployment_name))
    stages: list[tuple[str, Stage]] = []
    options.setdefault("timeout", 900)  # CI machines may be loaded: TCG boots slow down a lot
    deployment = start_deployment(
        project.store,
        manifest,
        plan,
        VmFlavour(VmOptions(accel="tcg", memory="192M", **options)),
        progress=lambda hostname, stage: stages.append((hostname, stage)),
    )
    for node in deployment.nodes:
        assert [s for h, s in stages if h == node.hostname] == [
            Stage.LAUNCHED,
            Stage.BOOTED,
            Stage.READY,
        ]
    return deployment


def ssh(project: VmProject, deployment: Deployment, hostname: str, command: str):
    argv = keys.ssh_argv(
        deployment.node(hostname),
        project.store.client_key_path(deployment.name),
        project.store.known_hosts_path(deployment.name),
        command,
        batch=True,
    )
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def assert_cleaned(project: VmProject, deployment: Deployment) -> None:
    marker = deployment.resources["marker"]
    assert marked_processes(marker) == []
    assert not Path(deployment.resources["run_dir"]).exists()  # sockets
    assert not Path(deployment.resources["secret_dir"]).exists()  # private host keys
    assert not project.store.lock_path(deployment.name).exists()
    assert project.store.load(deployment.name).state is DeploymentState.stopped


def test_three_nodes_reach_each_other_by_hostname_then_stop_leaves_nothing(
    vm_project: VmProject, vm_cleanup: list
) -> None:
    deployment = start(vm_project, vm_cleanup, 3, parameters={"volume": "replica:3"})
    hostnames = [node.hostname for node in deployment.nodes]
    assert hostnames == ["node1", "node2", "node3"]
    info = json.loads(ssh(vm_project, deployment, "node3", "cat /run/nxc/info.json").stdout)
    assert info["parameters"] == {"volume": "replica:3"}  # nxc start -p reaches every node
    for hostname in hostnames:
        others = " ".join(h for h in hostnames if h != hostname)
        # three tries: a first echo lost under load (ARP right after boot) is no broken network
        result = ssh(
            vm_project, deployment, hostname,
            f"hostname; for h in {others}; do ping -c3 -W5 $h >/dev/null || echo FAIL $h; done",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [hostname], result.stdout
    (Path(deployment.resources["shared_dir"]) / "from-host").write_text("hello")
    shared = ssh(vm_project, deployment, "node2", "cat /tmp/shared/from-host")
    assert shared.stdout == "hello"

    flavour = VmFlavour()
    assert flavour.probe(deployment) == dict.fromkeys(hostnames, LiveState.READY)
    transport = flavour.transport(deployment, vm_project.store)
    try:
        answer = transport.run_one("node2", "hostname")
        assert answer.ok and answer.stdout.strip() == "node2", answer
    finally:
        transport.close()
    flavour.block_node(deployment, "node2")
    assert ssh(vm_project, deployment, "node1", "ping -c1 -W2 node2").returncode != 0
    flavour.unblock_node(deployment, "node2")
    assert ssh(vm_project, deployment, "node1", "ping -c1 -W5 node2").returncode == 0
    assert "nxc-ready node1" in flavour.console_log(deployment, "node1").read_text()

    os.kill(deployment.node("node3").pid, signal.SIGKILL)  # killed from outside nxc
    time.sleep(0.5)
    record = vm_project.store.load(deployment.name)
    assert live_states(record) == {
        "node1": LiveState.READY,
        "node2": LiveState.READY,
        "node3": LiveState.DEAD,
    }
    uptime = float(ssh(vm_project, deployment, "node1", "cat /proc/uptime").stdout.split()[0])
    repaired = nxc("start", "--repair", "--manifest", str(vm_project.manifest_path),
                   cwd=vm_project.root, timeout=900)  # fmt: skip
    assert repaired.returncode == 0, repaired.stderr
    assert "relaunched node3" in repaired.stdout
    record = vm_project.store.load(deployment.name)
    assert flavour.probe(record) == dict.fromkeys(hostnames, LiveState.READY)
    assert record.node("node1").pid == deployment.node("node1").pid  # the others kept running
    later = float(ssh(vm_project, deployment, "node1", "cat /proc/uptime").stdout.split()[0])
    assert later > uptime
    again = nxc("start", "--repair", "--manifest", str(vm_project.manifest_path),
                cwd=vm_project.root, timeout=120)  # fmt: skip
    assert "nothing to repair" in again.stdout, again.stderr

    result = nxc("stop", deployment.name, cwd=vm_project.root, timeout=120)
    assert result.returncode == 0, result.stderr
    assert_cleaned(vm_project, deployment)
    assert live_states(vm_project.store.load(deployment.name)) == dict.fromkeys(
        hostnames, LiveState.DEAD
    )
    events = Journal(vm_project.store, deployment.name).events()
    kinds = [event.kind for event in events]
    phases = [event.name for event in events if isinstance(event, PhaseEvent)]
    assert kinds[0] == "command" and kinds[-2:] == ["command", "nodes_removed"], kinds
    assert "nodes_repaired" in kinds
    assert phases == ["allocate", "prepare", "boot", "repair"] and all(
        e.ok for e in events if isinstance(e, PhaseEvent)
    )
    added = next(e for e in events if isinstance(e, NodesAdded))
    assert added.hostnames == hostnames
    provenance = next(e for e in events if isinstance(e, ProvenanceEvent)).provenance
    assert provenance["deployment"]["name"] == deployment.name


def test_eight_nodes_are_all_ready(vm_project: VmProject, vm_cleanup: list) -> None:
    deployment = start(vm_project, vm_cleanup, 8)
    assert len(deployment.nodes) == 8
    assert set(VmFlavour().probe(deployment).values()) == {LiveState.READY}
    assert len({node.ssh_port for node in deployment.nodes}) == 8
    assert len({node.address for node in deployment.nodes}) == 8
    stop_deployment(vm_project.store, deployment.name)
    assert_cleaned(vm_project, deployment)


def test_two_tagged_deployments_side_by_side(vm_project: VmProject, vm_cleanup: list) -> None:
    first = start(vm_project, vm_cleanup, 1, tag="a")
    second = start(vm_project, vm_cleanup, 1, tag="b", forwards=["node1:22"], disk_size="64M")
    assert first.name != second.name
    assert first.resources["marker"] != second.resources["marker"]
    assert first.resources["subnet"] != second.resources["subnet"]
    assert not set(first.resources["ports"]) & set(second.resources["ports"])
    forwarded = second.node("node1").extra["forwards"][0][0]
    assert forwarded in second.resources["ports"]
    with socket.create_connection(("127.0.0.1", forwarded), timeout=30) as through:
        assert through.recv(64).startswith(b"SSH-2.0-")  # the guest's sshd, via the forward
    assert ssh(vm_project, first, "node1", "hostname").stdout.strip() == "node1"
    disk = ssh(vm_project, second, "node1", "cat /sys/block/vda/size; echo x > /dev/vda && echo ok")
    assert disk.stdout.split() == [str(64 * 2048), "ok"], disk.stderr  # 512-byte sectors
    assert ssh(vm_project, first, "node1", "test -e /sys/block/vda").returncode != 0
    stop_deployment(vm_project.store, first.name)
    assert_cleaned(vm_project, first)
    assert VmFlavour().probe(second) == {"node1": LiveState.READY}
    VmFlavour().shutdown_node(second, vm_project.store, "node1", timeout=60)
    console = Path(second.node("node1").extra["console_log"]).read_text(errors="replace")
    assert "reboot: Power down" in console, "the guest powered off by itself, before any kill"
    assert VmFlavour().probe(second) == {"node1": LiveState.DEAD}
    stop_deployment(vm_project.store, second.name)
    assert_cleaned(vm_project, second)


def test_a_node_missing_the_timeout_is_named_with_its_console(
    vm_project: VmProject, vm_cleanup: list
) -> None:
    with pytest.raises(NodeTimeoutError) as timed_out:
        start(vm_project, vm_cleanup, 2, timeout=2)
    message = str(timed_out.value)
    assert "node1, node2" in message and "node1.console.log" in message
    assert timed_out.value.missing == ["node1", "node2"]
    record = vm_project.store.load("testbed::vm")
    assert record.state is DeploymentState.failed
    assert marked_processes(record.resources["marker"]) == []


def test_a_qemu_killed_while_booting_is_named_with_how_it_ended(
    vm_project: VmProject, vm_cleanup: list
) -> None:
    record = vm_project.store.path_for("testbed::vm")
    stale = vm_project.store.log_dir("testbed::vm") / "node2.qemu.log"
    stale.write_text("qemu-system-x86_64: a message of an earlier deployment\n")

    def kill_node2_once_launched() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if record.exists() and launched(record):
                pid = json.loads(record.read_text())["nodes"][1]["pid"]
                os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_node2_once_launched)
    killer.start()
    try:
        with pytest.raises(ExternalCommandError) as exited:
            start(vm_project, vm_cleanup, 2)
    finally:
        killer.join()
    message = str(exited.value)
    assert "QEMU of node2 exited before the node was ready (killed by SIGKILL)" in message
    assert "node2.qemu.log" in message
    assert "earlier deployment" not in message
    failed = vm_project.store.load("testbed::vm")
    assert failed.state is DeploymentState.failed
    assert marked_processes(failed.resources["marker"]) == []


START_SCRIPT = """
import sys
from pathlib import Path
from nxc import manifest
from nxc.deploy import start_deployment
from nxc.deployment import DeploymentStore
from nxc.flavours.vm.flavour import VmFlavour
from nxc.flavours.vm.options import VmOptions
from nxc.journal import Journal, NodesAdded, PhaseEvent, ProvenanceEvent
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
m = manifest.load(Path(sys.argv[1]))
plan = plan_nodes(m, None, parse_role_options(["node=3"]))
start_deployment(DeploymentStore(Path(sys.argv[2])), m, plan, VmFlavour(VmOptions(accel="tcg")))
"""


def launched(record_path: Path) -> bool:
    data = json.loads(record_path.read_text())
    return all(node.get("pid") for node in data["nodes"])


def has_marker(record_path: Path) -> bool:
    return "marker" in json.loads(record_path.read_text())["resources"]


@pytest.mark.parametrize("moment", [has_marker, launched], ids=["allocated", "launched"])
def test_stop_after_start_was_killed(vm_project: VmProject, vm_cleanup: list, moment) -> None:
    vm_cleanup.append((vm_project.store, "testbed::vm"))
    record = vm_project.store.path_for("testbed::vm")
    starter = subprocess.Popen(
        [sys.executable, "-c", START_SCRIPT, str(vm_project.manifest_path),
         str(vm_project.store.deploy_dir)],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (record.exists() and moment(record)):
            assert time.monotonic() < deadline, "start never reached the moment to kill it"
            assert starter.poll() is None, "start ended before it could be killed"
            time.sleep(0.02)
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    marker = json.loads(record.read_text())["resources"]["marker"]
    time.sleep(0.5)  # let a QEMU forked at the last moment appear
    for _ in range(2):
        result = nxc("stop", cwd=vm_project.root, timeout=120)
        assert result.returncode == 0, result.stderr
    assert_cleaned(vm_project, vm_project.store.load("testbed::vm"))
    assert marked_processes(marker) == []
