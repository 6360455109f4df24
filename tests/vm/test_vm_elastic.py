"""A living vm deployment: nodes added and removed while it runs (real QEMU under TCG, the
VDE switch, the test-bed guest and its ``nxc-hosts-update``, real SSH)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from nxc.deploy import stop_deployment
from nxc.flavours import LiveState
from nxc.flavours.vm.flavour import VmFlavour
from nxc.journal import Journal, NodesAdded, NodesRemoved, PhaseEvent
from tests.vm.conftest import VmProject, marked_processes, nxc
from tests.vm.test_vm_e2e import ssh, start

pytestmark = pytest.mark.vm

WAITING_SCRIPT = """
import pathlib, time
flag = pathlib.Path({flag!r})
deadline = time.monotonic() + 900
while not flag.exists() and time.monotonic() < deadline:
    time.sleep(0.5)
for machine in (node1, node2):
    machine.succeed("ping -c3 -W5 node3")
    machine.succeed("grep -qx '10.[0-9.]* node3' /etc/hosts")
"""


def hosts_of(project: VmProject, deployment, hostname: str) -> list[str]:
    result = ssh(project, deployment, hostname, "cat /etc/hosts")
    assert result.returncode == 0, result.stderr
    return [line.split()[1] for line in result.stdout.splitlines() if "localhost" not in line]


def test_a_node_added_while_a_test_script_runs_then_one_removed(
    vm_project: VmProject, vm_cleanup: list, tmp_path: Path
) -> None:
    deployment = start(vm_project, vm_cleanup, 2)
    flag = tmp_path / "added"
    script = tmp_path / "script.py"
    script.write_text(WAITING_SCRIPT.format(flag=str(flag)))
    driver = subprocess.Popen(
        [sys.executable, "-m", "nxc", "driver", str(script), "-n", deployment.name],
        cwd=vm_project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        added = nxc(
            "start", "--add", "-r", "node=1", "--manifest", str(vm_project.manifest_path),
            "--timeout", "900", cwd=vm_project.root, timeout=1000,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert f"{deployment.name}: added node3" in added.stdout
        flag.touch()
        output, _ = driver.communicate(timeout=600)
        assert driver.returncode == 0, output
    finally:
        driver.kill()
        driver.wait()

    record = vm_project.store.load(deployment.name)
    assert [node.hostname for node in record.nodes] == ["node1", "node2", "node3"]
    assert len({node.address for node in record.nodes}) == 3
    assert record.node("node1").pid == deployment.node("node1").pid  # kept running
    for hostname in ("node1", "node2", "node3"):
        assert hosts_of(vm_project, record, hostname) == ["node1", "node2", "node3"]
    nxc_files = ssh(vm_project, record, "node1", "cat /etc/nxc/deployment-hosts")
    assert nxc_files.stdout.split()[1::2] == ["node1", "node2", "node3"]
    back = ssh(vm_project, record, "node3", "ping -c3 -W5 node1 >/dev/null && hostname")
    assert back.stdout.strip() == "node3", back.stderr
    ran = nxc("run", "--name", deployment.name, "--", "hostname", cwd=vm_project.root, timeout=120)
    assert ran.returncode == 0 and "node3" in ran.stdout, ran.stderr

    removed = nxc("stop", deployment.name, "--node", "node2", cwd=vm_project.root, timeout=300)
    assert removed.returncode == 0, removed.stderr
    assert "stopped node2" in removed.stdout
    record = vm_project.store.load(deployment.name)
    assert [node.hostname for node in record.nodes] == ["node1", "node3"]
    gone_pid = deployment.node("node2").pid
    assert gone_pid not in marked_processes(deployment.resources["marker"])
    for hostname in ("node1", "node3"):
        assert hosts_of(vm_project, record, hostname) == ["node1", "node3"]
    assert VmFlavour().probe(record) == {"node1": LiveState.READY, "node3": LiveState.READY}

    events = Journal(vm_project.store, deployment.name).events()
    assert [e.hostnames for e in events if isinstance(e, NodesAdded)] == [
        ["node1", "node2"],
        ["node3"],
    ]
    assert [e.hostnames for e in events if isinstance(e, NodesRemoved)] == [["node2"]]
    phases = [e.name for e in events if isinstance(e, PhaseEvent)]
    assert phases[3:] == ["allocate", "prepare", "boot", "announce", "stop", "announce"], phases

    started = time.monotonic()
    stop_deployment(vm_project.store, deployment.name)
    assert marked_processes(deployment.resources["marker"]) == []
    assert time.monotonic() - started < 120


def test_adding_needs_a_running_deployment_and_free_names(
    vm_project: VmProject, vm_cleanup: list
) -> None:
    deployment = start(vm_project, vm_cleanup, 1)
    clash = nxc(
        "start", "--add", "-r", "node=extra,node1", "--manifest", str(vm_project.manifest_path),
        cwd=vm_project.root, timeout=120,
    )  # fmt: skip
    assert clash.returncode != 0
    assert "node1 already in the deployment" in clash.stderr
    assert "Traceback" not in clash.stderr
    every = nxc("stop", deployment.name, "--node", "node1", cwd=vm_project.root, timeout=60)
    assert every.returncode != 0 and "removes every node" in every.stderr
    stop_deployment(vm_project.store, deployment.name)
    stopped = nxc(
        "start", "--add", "-r", "node=1", "--manifest", str(vm_project.manifest_path),
        cwd=vm_project.root, timeout=120,
    )  # fmt: skip
    assert stopped.returncode != 0 and "not running" in stopped.stderr
