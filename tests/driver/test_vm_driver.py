"""``nxc driver`` on the vm flavour: two QEMU test-bed guests (TCG), driven by the real CLI.

Runs ``scripts/vm_lifecycle.py`` (shared folder over 9p, copies, crash and restart through
QEMU, block through QMP, reboot), reads its JUnit report back and finds the nodes' console
lines in the driver's log.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nxc.deploy import start_deployment
from nxc.flavours.vm.flavour import VmFlavour
from nxc.flavours.vm.options import VmOptions
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.vm.conftest import VmProject, nxc

SCRIPT = Path(__file__).parent / "scripts" / "vm_lifecycle.py"


@pytest.mark.vm
@pytest.mark.timeout(2400)
def test_vm_lifecycle_script(vm_project: VmProject, vm_cleanup: list, tmp_path: Path) -> None:
    manifest = vm_project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options(["node=2"]))
    vm_cleanup.append((vm_project.store, plan.deployment_name))
    flavour = VmFlavour(VmOptions(accel="tcg", memory="192M", timeout=900))
    start_deployment(vm_project.store, manifest, plan, flavour)
    report = tmp_path / "report.xml"
    run = nxc("driver", str(SCRIPT), "--junit-xml", str(report), cwd=vm_project.root, timeout=3000)
    assert run.returncode == 0, run.stderr
    suite = ET.parse(report).getroot().find("testsuite")
    names = [case.get("name") for case in suite.findall("testcase")]
    assert names == [
        "nodes share /tmp/shared",
        "files from and to the host",
        "a crashed node is restarted",
        "a blocked node is cut off the other",
        "reboot",
    ]
    assert suite.get("failures") == "0"
    # The consoles are in the log, as in NixOS tests: node2's fresh boot after its restart.
    assert "node2 # nxc-ready node2" in run.stderr
