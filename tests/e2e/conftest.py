"""Fixtures for the end-to-end tests: a prepared copy of the test-bed fixture project.

The copy (tests/fixtures/testbed without its generated folders) is made buildable by the
fixture's own prepare.sh, exactly as scripts/demo.sh does it: the busybox test-bed guest in
./guest and the repository's Nix library in ./nxc-nix. Every deployment started in the copy
is stopped afterwards, and any process still carrying its marker is killed by pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "testbed"
GENERATED = ("guest", "nxc-nix", "build", "deploy", "artifact", ".nxc-nix.*")
NEEDED_PROGRAMS = {
    "nix": "nix-bin",
    "qemu-system-x86_64": "qemu-system-x86",
    "vde_switch": "vde2",
}


def nix_environment() -> dict[str, str]:
    """The environment nxc runs with here: no binary cache, busybox visible to the sandbox."""
    env = dict(os.environ)
    env["NXC_NIX_OFFLINE"] = "1"
    env["NIX_CONFIG"] = "extra-sandbox-paths = /bin/busybox"
    return env


def run_nxc(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess, as a user runs it from the project folder."""
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args],
        cwd=cwd,
        env=nix_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _require_tools(boots_vms: bool) -> None:
    wanted = NEEDED_PROGRAMS if boots_vms else {"nix": NEEDED_PROGRAMS["nix"]}
    missing = [f"{p} ({pkg})" for p, pkg in wanted.items() if shutil.which(p) is None]
    if not Path("/bin/busybox").exists():
        missing.append("/bin/busybox (busybox-static)")
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


@pytest.fixture
def testbed_project(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A prepared copy of the test-bed fixture project; its deployments are stopped after."""
    _require_tools(boots_vms=request.node.get_closest_marker("vm") is not None)
    project = tmp_path / "testbed"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns(*GENERATED))
    prepared = subprocess.run(
        [str(FIXTURE / "prepare.sh"), str(project)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert prepared.returncode == 0, f"prepare.sh failed:\n{prepared.stderr}"
    yield project
    _stop_everything(project / "deploy")


def _stop_everything(deploy_dir: Path) -> None:
    from nxc.deploy import stop_deployment
    from nxc.deployment import DeploymentStore
    from nxc.flavours.common import processes

    if not deploy_dir.is_dir():
        return
    store = DeploymentStore(deploy_dir)
    for record in sorted(deploy_dir.glob("*.json")):
        name = record.stem
        marker = ""
        try:
            marker = store.load(name).resources.get("marker", "")
            stop_deployment(store, name, force=True)
        except Exception as error:  # report, then fall through to the pid sweep
            print(f"cleanup of {name} failed: {error}", file=sys.stderr)
        for pid in processes.find_marked(marker) if marker else []:
            os.kill(pid, signal.SIGKILL)


OUTPUT = "composition::vm"
"""The fixture's one output: composition ``composition``, flavour ``vm``."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_manifest(project: Path) -> dict:
    """``nxc build -f vm`` in ``project``; the manifest it linked under build/."""
    result = run_nxc("build", "-f", "vm", cwd=project, timeout=600)
    assert result.returncode == 0, result.stderr
    link = project / "build" / OUTPUT
    assert Path(result.stdout.strip()) == link / "manifest.json"
    return json.loads((link / "manifest.json").read_text())
