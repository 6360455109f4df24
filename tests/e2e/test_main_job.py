"""The project's main job in the test-bed fixture, through the real CLI:

    nxc build -f vm && nxc start -r node=3 && nxc driver -t && nxc stop

a real Nix build (the nxc Nix library, seam filled by tests/fixtures/testbed/seam.nix), real
QEMU VMs (TCG here) booting the test-bed guest, and the composition's NixOS-style test script.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.deployment import DeploymentState, DeploymentStore
from nxc.flavours.common import processes
from tests.e2e.conftest import OUTPUT, build_manifest, run_nxc


@pytest.mark.vm
@pytest.mark.nix
def test_build_start_three_nodes_run_the_test_script_then_stop(testbed_project: Path) -> None:
    """The main job end to end; stop leaves no process, socket or lock behind."""
    build_manifest(testbed_project)

    started = run_nxc("start", "-r", "node=3", cwd=testbed_project, timeout=600)
    assert started.returncode == 0, started.stderr
    store = DeploymentStore(testbed_project / "deploy")
    deployment = store.load(OUTPUT)
    assert [node.hostname for node in deployment.nodes] == ["node1", "node2", "node3"]
    assert deployment.state is DeploymentState.running

    junit = testbed_project / "junit.xml"
    driven = run_nxc("driver", "-t", "--junit-xml", str(junit), cwd=testbed_project, timeout=600)
    assert driven.returncode == 0, driven.stdout + driven.stderr
    report = junit.read_text()
    for subtest in ("each node serves its own hostname", "every node reaches every other node"):
        assert subtest in report

    stopped = run_nxc("stop", cwd=testbed_project, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    marker = deployment.resources["marker"]
    assert processes.find_marked(marker) == []
    assert not Path(deployment.resources["run_dir"]).exists()
    assert not store.lock_path(OUTPUT).exists()
    assert store.load(OUTPUT).state is DeploymentState.stopped
