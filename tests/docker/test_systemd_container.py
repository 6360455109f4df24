"""The docker flavour's NixOS container path with a real systemd as PID 1.

The NixOS container system cannot be built here (no nixpkgs), so the image is the test bed's
systemd variant (conftest.py ``systemd_image``): Debian's systemd as PID 1, whose units apply
the node contract from the bind-mounted ``/etc/nxc`` files (``guest/node-setup``), start sshd
and print the readiness line. The manifest describes it as ``nxc build -f docker`` describes a
NixOS system: privileged, private cgroup namespace, ``container=docker``, stop signal
``SIGRTMIN+3``. Started and stopped through the real CLI on the tests' private engine; nothing
is faked. Where this machine's capability bounding set lacks some (here ``CAP_SYS_RESOURCE``),
the engine's runtime leaves those out of the privileged containers (conftest.py,
``bounded_runc.py``): runc refuses to start them otherwise.

This machine has cgroup v1 (``/sys/fs/cgroup`` is a tmpfs of per-controller hierarchies), so
the cgroup v2 path (systemd owning a private cgroup2 tree) stays unproven here.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.deployment import DeploymentStore
from nxc.transport.docker import DockerTransport
from tests.docker.conftest import DockerProject, Engine, engine_objects, nxc

pytestmark = pytest.mark.docker

NAME = "testbed::docker"
HOSTNAMES = ["node1", "node2"]
NOTHING = {"containers": [], "networks": [], "volumes": []}
HALT = str(int(signal.SIGRTMIN) + 3)
# Units that fail in this image, not in nxc: the test bed carries no agetty and no D-Bus daemon.
# Any other failed unit fails the test.
EXPECTED_FAILURES = {
    "console-getty.service": "no agetty in the image",
    "getty-static.service": "needs D-Bus and logind, which the image lacks",
}
OUR_UNITS = ("nxc-setup.service", "sshd.service", "nxc-ready.service")
SHUTDOWN_LINES = ("Reached target shutdown.target", "Halting system.")
SIGKILLED = "137"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def cli_cleanup(systemd_project: DockerProject, docker_engine: Engine) -> Iterator[None]:
    """``nxc stop --force`` through the CLI after the test, whatever happened in it."""
    yield
    if systemd_project.store.exists(NAME):
        nxc(
            "stop",
            "--force",
            NAME,
            cwd=systemd_project.root,
            env={"DOCKER_HOST": docker_engine.url},
        )


def container_events(engine: Engine, since: float) -> list[dict]:
    """The engine's container events of the deployment since ``since``."""
    return list(
        engine.api().events(
            since=int(since),
            until=int(time.time()) + 1,
            filters={"type": "container", "label": [f"nxc.deployment={NAME}"]},
            decode=True,
        )
    )


def check_node(transport: DockerTransport, hostname: str) -> str:
    """systemd is PID 1 and the system is up; the state (running or degraded)."""
    assert transport.run_one(hostname, "cat /proc/1/comm").check().stdout.strip() == "systemd"
    state = transport.run_one(hostname, "systemctl is-system-running --wait", timeout=60)
    assert state.stdout.strip() in ("running", "degraded"), (hostname, state.stdout, state.stderr)
    failed = transport.run_one(hostname, "systemctl list-units --failed --plain --no-legend")
    units = {line.split()[0] for line in failed.check().stdout.splitlines() if line.strip()}
    assert units <= set(EXPECTED_FAILURES), (hostname, failed.stdout)
    for unit in OUR_UNITS:
        active = transport.run_one(hostname, f"systemctl is-active {unit}")
        assert active.stdout.strip() == "active", (hostname, unit, active.stdout)
    return state.stdout.strip()


def test_two_systemd_nodes_boot_reach_each_other_and_halt_through_systemd(
    systemd_project: DockerProject, docker_host: Engine, cli_cleanup: None
) -> None:
    root, env = systemd_project.root, {"DOCKER_HOST": docker_host.url}
    manifest = str(systemd_project.manifest_path)
    began = time.monotonic()
    start = nxc("start", "-f", "docker", "-r", "node=2", "--manifest", manifest, cwd=root, env=env)
    ready_in = time.monotonic() - began
    assert start.returncode == 0, start.stdout + start.stderr
    store: DeploymentStore = systemd_project.store
    deployment = store.load(NAME)
    assert [node.hostname for node in deployment.nodes] == HOSTNAMES
    api = docker_host.api()
    for node in deployment.nodes:
        host_config = api.inspect_container(node.extra["container_id"])["HostConfig"]
        assert host_config["Privileged"] and host_config["CgroupnsMode"] == "private"

    with DockerTransport.for_deployment(deployment, store) as transport:
        states = {hostname: check_node(transport, hostname) for hostname in HOSTNAMES}
        for hostname in HOSTNAMES:
            (other,) = (h for h in HOSTNAMES if h != hostname)
            reach = transport.run_one(
                hostname, f"ping -c1 -W2 {other} >/dev/null && nc -w 2 {other} 22 </dev/null"
            )
            assert reach.check().stdout.startswith("SSH-2.0-"), (hostname, reach.stdout)

    stop_began = time.time()
    stop = nxc("stop", cwd=root, env=env)
    stopped_in = time.time() - stop_began
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert engine_objects(docker_host, NAME) == NOTHING

    events = container_events(docker_host, stop_began - 1)
    for node in deployment.nodes:
        mine = [e for e in events if e["id"] == node.extra["container_id"]]
        signals = [e["Actor"]["Attributes"]["signal"] for e in mine if e["Action"] == "kill"]
        assert signals == [HALT], (node.hostname, signals)  # no SIGKILL after the grace time
        (died,) = [e for e in mine if e["Action"] == "die"]
        saved = Path(deployment.resources["log_dir"]) / f"{node.hostname}.console.log"
        log = ANSI.sub("", saved.read_text())  # saved once stopped: it ends with the shutdown
        assert all(line in log for line in SHUTDOWN_LINES), log[-3000:]
        assert "nxc-ready " + node.hostname in log
        exit_code = died["Actor"]["Attributes"]["exitCode"]
        assert exit_code != SIGKILLED
        print(f"{node.hostname}: halted by systemd, exit code {exit_code}")
    print(
        f"2 systemd containers: ready in {ready_in:.1f} s (nxc start), states {states}, "
        f"stopped in {stopped_in:.1f} s (nxc stop)"
    )
