"""``nxc driver`` on the vm flavour: two QEMU test-bed guests started by the real ``nxc start``.

Runs ``scripts/vm_lifecycle.py`` (shared folder over 9p, copies, crash and restart through
QEMU, block through QMP, reboot) and reads its JUnit report back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.vm.conftest import VmProject, nxc

SCRIPT = Path(__file__).parent / "scripts" / "vm_lifecycle.py"


@pytest.mark.vm
def test_vm_lifecycle_script(vm_project: VmProject, vm_cleanup: list, tmp_path: Path) -> None:
    vm_cleanup.append((vm_project.store, "testbed::vm"))
    started = nxc(
        "start", "--manifest", str(vm_project.manifest_path), "-r", "node=2",
        "--accel", "tcg", "--memory", "192M", "--timeout", "900",
        cwd=vm_project.root, timeout=1000,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
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
    stopped = nxc("stop", cwd=vm_project.root)
    assert stopped.returncode == 0, stopped.stderr
