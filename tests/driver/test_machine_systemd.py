"""systemd calls of Machine against a real systemd (PID 1 of a systemd-nspawn container).

The node is the host's own Debian booted with systemd in a namespace host's network namespace
(see ``systemd_container.py``), driven over nxc's SSH transport like any node; the units
under test are small ones the container carries (``TEST_UNITS``). Nothing of systemd's answers
is faked.
"""

from __future__ import annotations

import io
import time

import pytest

from nxc import keys
from nxc.deployment import Deployment, DeploymentState, DeploymentStore
from nxc.driver.deployment_backend import open_driver
from nxc.driver.logger import DriverLogger, LogLevel
from nxc.errors import RequestedAssertionFailed
from tests.driver.conftest import _can_run_namespaces
from tests.driver.nsflavour import FLAVOUR_NAME, NamespaceFlavour, namespace_node
from tests.driver.systemd_container import SystemdContainer, missing_requirement
from tests.netns import NamespaceHosts


@pytest.fixture(scope="module")
def systemd_deployment(tmp_path_factory):
    reason = _can_run_namespaces() or missing_requirement()
    if reason:
        pytest.skip(reason)
    project = tmp_path_factory.mktemp("systemd-project")
    store = DeploymentStore(project / "deploy")
    name = f"systemdtest::{FLAVOUR_NAME}"
    public = keys.ensure_client_key(store.client_key_path(name), f"nxc:{name}")
    hosts = NamespaceHosts(1, project / "hosts", public, hostname_prefix="sd-")
    container = None
    try:
        (host,) = hosts.up()
        host.kill()  # the container's own sshd takes over port 22 of this namespace
        container = SystemdContainer(host, project / "container", public)
        container.start()
        node = namespace_node(host, "systemd", host_key=container.host_key)
        deployment = Deployment(
            "systemdtest", FLAVOUR_NAME, nodes=[node], state=DeploymentState.running
        )
        keys.write_known_hosts(store.known_hosts_path(name), [node])
        store.save(deployment)
        yield deployment, store
    finally:
        if container is not None:
            container.stop()
        hosts.down()


@pytest.fixture
def machine(systemd_deployment):
    deployment, store = systemd_deployment
    flavour = NamespaceFlavour()
    logger = DriverLogger(stream=io.StringIO(), level=LogLevel.DEBUG, color=False)
    with flavour.transport(deployment, store) as transport:
        driver = open_driver(deployment, store, flavour, transport, logger, boot_timeout=180)
        (node,) = driver.machines
        node.wait_until_succeeds("systemctl is-system-running --wait || true", timeout=60)
        yield node
        for unit in ("nxc-demo", "nxc-broken", "nxc-slow", "nxc-stuck"):
            node.execute(f"systemctl stop {unit}.service; systemctl reset-failed {unit}.service")


def test_systemd_is_pid_1_on_the_node(machine):
    assert machine.succeed("cat /proc/1/comm").strip() == "systemd"
    status, output = machine.systemctl("is-active ssh.service")
    assert (status, output.strip()) == (0, "active")


def test_wait_for_unit_active(machine):
    machine.wait_for_unit("ssh.service", timeout=30)
    machine.wait_for_unit("basic.target", timeout=30)


def test_wait_for_unit_waits_for_an_activating_unit(machine):
    machine.systemctl("start --no-block nxc-slow.service")
    started = time.monotonic()
    machine.wait_for_unit("nxc-slow.service", timeout=60)
    assert time.monotonic() - started >= 1.5  # the unit takes 3 s to start


def test_wait_for_unit_raises_when_the_unit_fails(machine):
    machine.start_job("nxc-broken.service")
    with pytest.raises(RequestedAssertionFailed, match=r'"nxc-broken\.service" reached state'):
        machine.wait_for_unit("nxc-broken.service", timeout=30)


def test_wait_for_unit_raises_on_an_inactive_unit_without_jobs(machine):
    started = time.monotonic()
    with pytest.raises(RequestedAssertionFailed, match="inactive and there are no pending jobs"):
        machine.wait_for_unit("nxc-demo.service", timeout=30)
    assert time.monotonic() - started < 20


def test_wait_for_unit_times_out(machine):
    machine.systemctl("start --no-block nxc-stuck.service")
    with pytest.raises(RequestedAssertionFailed, match="timed out"):
        machine.wait_for_unit("nxc-stuck.service", timeout=2)


def test_wait_for_unit_rides_over_a_node_unreachable_for_a_moment(machine):
    """sshd (and every SSH session) goes away for a few seconds, as in a reboot; a timer of
    the container's systemd brings it back."""
    machine.succeed("systemd-run --on-active=5 systemctl start ssh.service")
    machine.succeed(
        "setsid sh -c 'sleep 0.5; systemctl stop ssh.service; pkill -x sshd' "
        "</dev/null >/dev/null 2>&1 &"
    )
    time.sleep(2)  # sshd is down now
    machine.wait_for_unit("ssh.service", timeout=60)
    assert machine.succeed("echo back").strip() == "back"


def test_start_job_stop_job_and_require_unit_state(machine):
    status, _ = machine.start_job("nxc-demo.service")
    assert status == 0
    machine.require_unit_state("nxc-demo.service")
    machine.require_unit_state("nxc-demo.service", "active")
    status, _ = machine.stop_job("nxc-demo.service")
    assert status == 0
    machine.require_unit_state("nxc-demo.service", "inactive")
    with pytest.raises(RequestedAssertionFailed, match="to be in state 'active'"):
        machine.require_unit_state("nxc-demo.service")


def test_get_unit_info_and_property(machine):
    machine.start_job("nxc-demo.service")
    info = machine.get_unit_info("nxc-demo.service")
    assert info["Id"] == "nxc-demo.service"
    assert info["ActiveState"] == "active"
    assert info["SubState"] == "running"
    assert int(info["MainPID"]) > 0
    assert machine.get_unit_property("nxc-demo.service", "SubState") == "running"
    assert machine.get_unit_property("nxc-demo.service", "ExecMainPID") == info["MainPID"]
    missing = machine.get_unit_info("no-such-unit.service")
    assert missing["LoadState"] == "not-found"


def test_systemctl_failure_is_a_status_not_an_exception(machine):
    status, _ = machine.systemctl("start no-such-unit.service")
    assert status != 0
    status, _ = machine.start_job("no-such-unit.service")
    assert status != 0


@pytest.fixture
def user(machine):
    """A user with a running systemd user manager (created inside the container only)."""
    name = "nxcdrvuser"  # not a name other tests create on the host (the overlay shows it)
    machine.succeed(f"id {name} >/dev/null 2>&1 || useradd -m {name}")
    uid = machine.succeed(f"id -u {name}").strip()
    machine.wait_until_succeeds(f"systemctl start user@{uid}.service", timeout=60)
    return name


def test_user_units(machine, user):
    machine.wait_for_unit("default.target", user=user, timeout=30)
    status, _ = machine.start_job("nxc-user-demo.service", user=user)
    assert status == 0
    info = machine.get_unit_info("nxc-user-demo.service", user=user)
    assert (info["ActiveState"], info["SubState"]) == ("active", "running")
    owner = machine.succeed(f"ps -o user= -p {info['MainPID']}").strip()
    assert owner == user  # the user's own manager runs it, not PID 1
    machine.wait_for_unit("nxc-user-demo.service", user=user, timeout=10)
    status, _ = machine.stop_job("nxc-user-demo.service", user=user)
    assert status == 0
    assert machine.get_unit_property("nxc-user-demo.service", "ActiveState", user) == "inactive"
    status, output = machine.systemctl("is-active nxc-user-demo.service")
    assert output.strip() == "inactive"  # unknown to the system manager
    assert status != 0
