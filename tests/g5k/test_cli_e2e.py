"""``nxc start -f g5k-ramdisk --oar ... && nxc driver -t && nxc stop`` through the real CLI.

Everything is real and run as a user outside Grid'5000 would: OAR commands go over SSH to
the stand-in's frontend (a private sshd for the OAR test user), and the hosts (test-bed VMs
standing for Grid'5000 nodes, see :mod:`tests.g5k.hostvms`) are reached as root through that
frontend with ``ProxyJump``, all described in one OpenSSH client configuration given with
``--ssh-config``, as a Grid'5000 user's ``~/.ssh/config`` describes a site and its nodes.
The frontend's sshd log proves that OpenSSH (pushing the boot files, kexec) and nxc's own
SSH (readiness, the driver) both went through the jump. Only Grid'5000 itself is replaced:
by the OAR server of ``tests/oar/conftest.py`` and the host VMs.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nxc.manifest import to_dict
from nxc.platforms.oar import Oar
from tests.g5k.conftest import VM_PROPERTIES, kexec_manifest
from tests.vm.conftest import nxc

pytestmark = [pytest.mark.vm, pytest.mark.oar]

SITE = "standin-site"
TEST_SCRIPT = """\
start_all()
with subtest("every node runs its role"):
    for machine in machines:
        machine.succeed(f'test "$(hostname)" = {machine.name}')
        machine.succeed("test -s /run/nxc/self.json")
with subtest("nodes reach each other by hostname"):
    client.wait_until_succeeds("ping -c 1 -W 2 server", timeout=60)
    server.succeed("ping -c 1 -W 2 client")
"""


def ssh_config(path: Path, frontend, lab) -> Path:
    """The site as an alias, and the hosts reached as root, in one client configuration."""
    path.write_text(
        frontend.ssh_config(SITE)
        + "Host 10.215.0.*\n"
        + f"  ProxyJump {SITE}\n"
        + f"  User root\n  IdentityFile {lab.deploy_key}\n  IdentitiesOnly yes\n"
        + f"  UserKnownHostsFile {lab.known_hosts}\n  StrictHostKeyChecking yes\n"
    )
    return path


def jumps(frontend) -> int:
    """Connections to the hosts that the frontend's sshd forwarded so far (``ProxyJump``)."""
    lines = frontend.log.read_text(errors="replace").splitlines()
    return sum("direct_tcpip" in line and "target 10.215.0." in line for line in lines)


def test_reserve_kexec_drive_and_stop_through_the_cli(
    lab, g5k_oar, oar_ssh_frontend, testbed_guest, tmp_path
):
    project = tmp_path / "project"
    project.mkdir()
    (project / "flake.nix").write_text("{ outputs = _: { }; }\n")
    manifest = project / "g5k-ramdisk.json"
    manifest.write_text(json.dumps(to_dict(kexec_manifest(testbed_guest, test_script=TEST_SCRIPT))))
    config = ssh_config(tmp_path / "ssh_config", oar_ssh_frontend, lab)

    jumped = jumps(oar_ssh_frontend)
    started = time.monotonic()
    start = nxc(
        "start", "-f", "g5k-ramdisk", "--manifest", str(manifest),
        "--site", SITE, "--ssh-config", str(config),
        "--oar", "nodes=2,walltime=0:30:00", "--oar-properties", VM_PROPERTIES,
        "--timeout", "300",
        cwd=project, timeout=900,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    print(f"nxc start (reservation + kexec of 2 hosts): {time.monotonic() - started:.1f} s")
    assert "composition::g5k-ramdisk: 2 node(s) ready" in start.stdout
    assert jumps(oar_ssh_frontend) > jumped, "the hosts were not reached through the frontend"
    jumped = jumps(oar_ssh_frontend)

    status = nxc("status", "--json", cwd=project)
    assert status.returncode == 0, status.stderr
    (record,) = json.loads(status.stdout)
    job_id = record["resources"]["oar"]["oar_job_id"]
    assert record["resources"]["oar"]["created_by_nxc"] is True
    assert {node["ssh_host"] for node in record["nodes"]} <= set(lab.hosts)
    oar = Oar(oar_ssh_frontend.frontend)
    assert oar.job_state(job_id) == "Running"

    report = tmp_path / "report.xml"
    driver = nxc("driver", "-t", "--junit-xml", str(report), cwd=project, timeout=900)
    assert driver.returncode == 0, driver.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    assert [case.get("name") for case in suite.findall("testcase")] == [
        "every node runs its role",
        "nodes reach each other by hostname",
    ]
    assert suite.get("failures") == "0"
    assert jumps(oar_ssh_frontend) >= jumped + 2, "the driver did not go through the frontend"

    stop = nxc("stop", cwd=project)
    assert stop.returncode == 0, stop.stderr
    deadline = time.monotonic() + 60
    while not oar.job_info(job_id).ended:
        assert time.monotonic() < deadline, f"OAR job {job_id} still not over after nxc stop"
        time.sleep(0.5)
    again = nxc("stop", cwd=project)
    assert again.returncode == 0, again.stderr
