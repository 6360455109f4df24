"""``nxc driver`` on a QEMU test-bed guest whose PID 1 is systemd (vm flavour, TCG).

Runs ``scripts/vm_systemd.py`` through the real CLI: ``wait_for_unit`` (active, failed,
inactive without jobs, timed out), ``systemctl``, ``get_unit_info``, ``require_unit_state``,
``start_job``/``stop_job`` and ``wait_for_open_port``/``wait_for_closed_port`` against the
guest's own units and units the script writes, then reads the JUnit report back. systemd's
answers are its own: nothing is faked.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from nxc.deploy import start_deployment
from nxc.flavours.vm.flavour import VmFlavour
from nxc.flavours.vm.options import VmOptions
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.vm.conftest import VmProject, nxc, write_manifest

SCRIPT = Path(__file__).parent / "scripts" / "vm_systemd.py"
MEMORY = "384M"
"""Above the variant's 256 MiB minimum: its root (systemd and its libraries) lives in RAM."""


@pytest.fixture(scope="session")
def systemd_testbed_guest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The systemd test-bed guest: (kernel, initrd, kernel command line)."""
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is needed to fetch the guest's Debian packages")
    from tests.testbed.build import KERNEL_PARAMS, build

    artifacts = build("systemd", tmp_path_factory.mktemp("systemd-guest"))
    return artifacts.kernel, artifacts.initrd, KERNEL_PARAMS


@pytest.fixture
def systemd_project(tmp_path: Path, systemd_testbed_guest: tuple[Path, Path, str]) -> VmProject:
    """A fresh project whose manifest boots the systemd guest."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    kernel, initrd, cmdline = systemd_testbed_guest
    return VmProject(tmp_path, write_manifest(tmp_path / "manifest.json", kernel, initrd, cmdline))


@pytest.mark.vm
@pytest.mark.timeout(2400)
def test_vm_systemd_script(systemd_project: VmProject, vm_cleanup: list, tmp_path: Path) -> None:
    manifest = systemd_project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options(["node=1"]))
    vm_cleanup.append((systemd_project.store, plan.deployment_name))
    start_deployment(
        systemd_project.store,
        manifest,
        plan,
        VmFlavour(VmOptions(accel="tcg", memory=MEMORY, timeout=900)),
    )
    report = tmp_path / "report.xml"
    run = nxc(
        "driver", str(SCRIPT), "--junit-xml", str(report), cwd=systemd_project.root, timeout=1800
    )
    assert run.returncode == 0, run.stderr + run.stdout
    suite = ET.parse(report).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [
        "systemd is PID 1 and runs sshd",
        "a unit started and stopped",
        "wait_for_unit on a failing unit",
        "wait_for_unit on an inactive unit and on a stuck one",
        "systemctl failures are statuses",
    ]
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0")
    assert all(case.find("failure") is None and case.find("error") is None for case in cases)
    assert "$ systemctl start nxc-web.service  (exit 0" in cases[1].findtext("system-out")
