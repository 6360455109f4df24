"""The docker flavour end to end on a private real engine, with the stand-in image (see
conftest.py: the test bed's root file system stands in for the NixOS container system)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import nxc
from nxc import keys
from nxc.api import Environment
from nxc.deploy import live_states, start_deployment, stop_deployment
from nxc.deployment import Deployment, DeploymentState
from nxc.flavours import LiveState, Stage
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.flavours.docker.options import DockerOptions
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from nxc.transport.docker import DockerTransport
from tests.docker.conftest import DockerProject, Engine, engine_objects

pytestmark = pytest.mark.docker


def start(
    project: DockerProject, cleanup: list, count: int, tag: str | None = None, **options
) -> tuple[Deployment, list[tuple[str, Stage]]]:
    manifest = project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options([f"node={count}"]), tag=tag)
    cleanup.append((project.store, plan.deployment_name))
    stages: list[tuple[str, Stage]] = []
    deployment = start_deployment(
        project.store,
        manifest,
        plan,
        DockerFlavour(DockerOptions(**options)),
        progress=lambda hostname, stage: stages.append((hostname, stage)),
    )
    return deployment, stages


def assert_nothing_left(engine: Engine, project: DockerProject, deployment: Deployment) -> None:
    assert engine_objects(engine, deployment.name) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
    api = engine.api()
    for container_id in deployment.resources["containers"].values():
        assert not api.containers(all=True, filters={"id": container_id})
    assert project.store.load(deployment.name).state is DeploymentState.stopped
    assert not project.store.lock_path(deployment.name).exists()


def test_four_nodes_reach_each_other_driver_script_passes_stop_leaves_nothing(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    began = time.monotonic()
    deployment, stages = start(docker_project, docker_cleanup, 4)
    started_in = time.monotonic() - began
    hostnames = [node.hostname for node in deployment.nodes]
    assert hostnames == ["node1", "node2", "node3", "node4"]
    for hostname in hostnames:
        assert [s for h, s in stages if h == hostname] == [
            Stage.LAUNCHED,
            Stage.BOOTED,
            Stage.READY,
        ]
    resources = deployment.resources
    assert set(resources["containers"]) == set(hostnames)
    api = docker_host.api()
    network = api.inspect_network(resources["network"]["id"])
    assert network["Labels"]["nxc.deployment"] == deployment.name
    for node in deployment.nodes:
        details = api.inspect_container(node.extra["container_id"])
        assert details["Config"]["Hostname"] == node.hostname
        assert details["Config"]["Labels"]["nxc.node"] == node.hostname
        assert details["Config"]["Labels"]["nxc.role"] == "node"
        assert details["State"]["Running"]

    with DockerTransport.for_deployment(deployment, docker_project.store) as transport:
        # by hostname, from every node to every other node (the SSH server of each answers)
        for hostname in hostnames:
            others = " ".join(h for h in hostnames if h != hostname)
            result = transport.run_one(
                hostname,
                f"hostname; for h in {others}; do ping -c1 -W2 $h >/dev/null && "
                'nc -w 2 $h 22 </dev/null | head -c 7 && echo " $h" || echo "FAIL $h"; done',
                timeout=60,
            ).check()
            lines = result.stdout.splitlines()
            assert lines[0] == hostname
            assert sorted(lines[1:]) == [f"SSH-2.0 {h}" for h in sorted(others.split())]
        # each node holds only its own host key, matching the pinned public key
        for node in deployment.nodes:
            public = transport.run_one(
                node.hostname, "ssh-keygen -y -f /etc/ssh/ssh_host_ed25519_key"
            ).check()
            assert public.stdout.split()[:2] == node.host_key.split()[:2]
        # the shared folder is the deployment's shared folder on the host
        transport.run_one("node2", "echo from-node2 > /tmp/shared/hello").check()
        shared = Path(resources["shared_dir"]) / "hello"
        assert shared.read_text() == "from-node2\n"
        # the host's store is mounted read-only when the host has one
        if Path("/nix/store").is_dir():
            ro = transport.run_one("node1", "touch /nix/store/nxc-write-test")
            assert not ro.ok and "Read-only" in ro.stderr

    # SSH from the host with the deployment's pinned keys works too
    argv = keys.ssh_argv(
        deployment.node("node3"),
        docker_project.store.client_key_path(deployment.name),
        docker_project.store.known_hosts_path(deployment.name),
        "cat /run/nxc/hostname",
        batch=True,
    )
    assert subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout == "node3\n"

    # a driver-style script through the docker transport (nxc driver -t on this deployment)
    script = docker_project.root / "check.py"
    script.write_text(
        "start_all()\n"
        "for m in machines:\n"
        "    t.assertEqual(m.succeed('hostname').strip(), m.name)\n"
        "node1.succeed('ping -c1 -W2 node4')\n"
        "node4.wait_until_succeeds('test -e /tmp/shared/hello', timeout=10)\n"
        "status, out = node2.execute('echo out; exit 3')\n"
        "assert (status, out) == (3, 'out\\n'), (status, out)\n"
        "node3.fail('false')\n"
        "node1.block()\n"
        "node2.fail('ping -c1 -W1 node1')\n"
        "node1.unblock()\n"
        "node2.wait_until_succeeds('ping -c1 -W1 node1', timeout=20)\n"
        "node4.crash()\n"
        "node4.start()\n"
        "node4.succeed('true')\n"
        "node1.succeed('ping -c1 -W2 node4')\n"
    )
    env = {**os.environ, "DOCKER_HOST": docker_host.url}
    driver = subprocess.run(
        [sys.executable, "-m", "nxc", "driver", str(script), "-n", deployment.name],
        cwd=docker_project.root,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert driver.returncode == 0, driver.stdout + driver.stderr

    states = live_states(docker_project.store.load(deployment.name))
    assert states == dict.fromkeys(hostnames, LiveState.READY)

    stop_deployment(docker_project.store, deployment.name)
    assert_nothing_left(docker_host, docker_project, deployment)
    logs = docker_project.store.log_dir(deployment.name)
    assert "nxc-ready node1" in (logs / "node1.console.log").read_text()
    print(f"4 containers ready in {started_in:.1f} s")
    stop_deployment(docker_project.store, deployment.name)  # idempotent
    assert_nothing_left(docker_host, docker_project, deployment)


def test_compose_file_describes_the_running_containers(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    deployment, _ = start(docker_project, docker_cleanup, 2)
    compose = Path(deployment.resources["compose_file"])
    assert compose.parent == docker_project.store.state_dir(deployment.name).absolute()
    document = yaml.safe_load(compose.read_text())
    api = docker_host.api()
    assert sorted(document["services"]) == ["node1", "node2"]
    for node in deployment.nodes:
        service = document["services"][node.hostname]
        live = api.inspect_container(node.extra["container_id"])
        assert service["image"] == live["Config"]["Image"]
        assert service["hostname"] == live["Config"]["Hostname"]
        assert service["command"] == live["Config"]["Cmd"]
        assert service["networks"]["nxc"]["ipv4_address"] == node.address
        mounts = {(m["Source"], m["Destination"], not m["RW"]) for m in live["Mounts"]}
        declared = {(v["source"], v["target"], v["read_only"]) for v in service["volumes"]}
        assert declared == mounts
        assert service["labels"] == {
            key: value for key, value in live["Config"]["Labels"].items() if key.startswith("nxc.")
        }
    [pool] = document["networks"]["nxc"]["ipam"]["config"]
    network = api.inspect_network(deployment.resources["network"]["id"])
    assert pool["subnet"] == network["IPAM"]["Config"][0]["Subnet"]
    stop_deployment(docker_project.store, deployment.name)
    assert compose.exists()  # kept for 'docker compose' until 'nxc clean'


def test_status_probe_follows_crash_and_restart(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    deployment, _ = start(docker_project, docker_cleanup, 2)
    flavour = DockerFlavour()
    flavour.crash_node(deployment, docker_project.store, "node2")
    assert flavour.probe(deployment) == {"node1": LiveState.READY, "node2": LiveState.DEAD}
    with Environment(deployment, docker_project.store) as env:  # the API's repair
        assert env.repair() == ["node2"]
        assert (
            env.run("hostname", hosts=["node2"]).check().results["node2"].stdout.strip() == "node2"
        )
        assert env.repair() == []
    deployment = docker_project.store.load(deployment.name)
    assert flavour.probe(deployment) == {"node1": LiveState.READY, "node2": LiveState.READY}
    flavour.shutdown_node(deployment, docker_project.store, "node1")
    assert flavour.probe(deployment)["node1"] is LiveState.DEAD
    status = subprocess.run(
        [sys.executable, "-m", "nxc", "status", deployment.name, "--live"],
        cwd=docker_project.root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_HOST": docker_host.url},
    )
    assert status.returncode == 0, status.stderr
    live = {line.split()[0]: line.split()[-1] for line in status.stdout.splitlines()[2:]}
    assert live == {"node1": "dead", "node2": "ready"}, status.stdout


def test_the_python_api_starts_the_latest_build_and_stops_it(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    """nxc.start: the project's latest docker build, two nodes, a parameter every node reads
    from its deployment info; Environment.stop leaves nothing."""
    build = docker_project.root / "build" / "testbed::docker"
    build.mkdir(parents=True)
    shutil.copy(docker_project.manifest_path, build / "manifest.json")
    docker_cleanup.append((docker_project.store, "testbed::docker::api"))
    env = nxc.start(
        {"node": 2},
        flavour="docker",
        tag="api",
        parameters={"mode": "fast"},
        project=docker_project.root,
    )
    try:
        assert env.name == "testbed::docker::api" and env.hostnames() == ["node1", "node2"]
        answer = env.run("cat /run/nxc/info.json", hosts=["node2"]).check().results["node2"]
        assert json.loads(answer.stdout)["parameters"] == {"mode": "fast"}
    finally:
        env.stop()
    assert_nothing_left(docker_host, docker_project, env.deployment)


def test_sigkill_of_start_then_stop_removes_everything(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine
) -> None:
    """``nxc start`` killed with SIGKILL while it creates containers: stop removes what it
    created, recorded or not yet (found by the recorded marker)."""
    name = "testbed::docker::killed"
    docker_cleanup.append((docker_project.store, name))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from nxc.deploy import start_deployment\n"
        "from nxc.deployment import DeploymentStore\n"
        "from nxc.flavours.docker.flavour import DockerFlavour\n"
        "from nxc.manifest import load\n"
        "from nxc.plan import plan_nodes\n"
        "from nxc.roles import parse_role_options\n"
        "m = load(Path(sys.argv[1]))\n"
        "plan = plan_nodes(m, None, parse_role_options(['node=6']), tag='killed')\n"
        "start_deployment(DeploymentStore(Path(sys.argv[2])), m, plan, DockerFlavour())\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(docker_project.manifest_path), "deploy"],
        cwd=docker_project.root,
        env={**os.environ, "DOCKER_HOST": docker_host.url},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(engine_objects(docker_host, name)["containers"]) < 3:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert engine_objects(docker_host, name)["containers"], "start was killed too late or early"
    record = docker_project.store.load(name)
    assert record.state is DeploymentState.starting
    stop_deployment(docker_project.store, name)
    assert engine_objects(docker_host, name) == {"containers": [], "networks": [], "volumes": []}
    stop_deployment(docker_project.store, name)
    assert docker_project.store.load(name).state is DeploymentState.stopped
