"""Fixtures for the vm flavour: test-bed guest, a project around it, cleanup of everything.

Every deployment a test starts is registered with ``vm_cleanup``; its finalizer stops it
(forcefully) and then kills, by pid, any process still carrying the deployment's marker, so a
failing test never leaves VMs or switches behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc import manifest as manifest_module
from nxc.deployment import DeploymentStore
from nxc.flavours.common import processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def testbed_guest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The busybox test-bed guest: (kernel, initrd, kernel command line)."""
    from tests.testbed.build import KERNEL_PARAMS, build

    artifacts = build("busybox", tmp_path_factory.mktemp("guest"))
    return artifacts.kernel, artifacts.initrd, KERNEL_PARAMS


def write_manifest(
    path: Path,
    kernel: Path,
    initrd: Path,
    cmdline: str,
    flavour: str = "vm",
    test_script: str | None = None,
) -> Path:
    """A one-composition (``testbed``, role ``node``) build manifest booting the guest."""
    data = {
        "nxc_manifest": 1,
        "flavour": flavour,
        "system": "x86_64-linux",
        "compositions": {
            "testbed": {
                "roles": {
                    "node": {
                        "system": "/nix/store/00000000000000000000000000000000-role-node",
                        "default_count": 1,
                    }
                },
                "artefacts": {"kernel": str(kernel), "initrd": str(initrd), "cmdline": cmdline},
                "test_script": test_script,
            }
        },
    }
    path.write_text(json.dumps(data, indent=2))
    return path


class VmProject:
    """A project folder (flake.nix, deploy/) with a vm manifest for the guest."""

    def __init__(self, root: Path, manifest_path: Path) -> None:
        self.root = root
        self.manifest_path = manifest_path
        self.store = DeploymentStore(root / "deploy")

    def manifest(self) -> manifest_module.Manifest:
        return manifest_module.load(self.manifest_path)


@pytest.fixture
def vm_project(tmp_path: Path, testbed_guest: tuple[Path, Path, str]) -> VmProject:
    """A fresh project whose manifest boots the test-bed guest."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    kernel, initrd, cmdline = testbed_guest
    return VmProject(tmp_path, write_manifest(tmp_path / "manifest.json", kernel, initrd, cmdline))


def marked_processes(marker: str) -> list[int]:
    """Live processes whose command line carries ``marker``."""
    return processes.find_marked(marker) if marker else []


@pytest.fixture
def vm_cleanup() -> Iterator[list[tuple[DeploymentStore, str]]]:
    """Register (store, name) pairs; each is stopped and its processes killed afterwards."""
    from nxc.deploy import stop_deployment

    started: list[tuple[DeploymentStore, str]] = []
    yield started
    for store, name in started:
        marker = ""
        try:
            marker = store.load(name).resources.get("marker", "")
            stop_deployment(store, name, force=True)
        except Exception as error:  # report, then fall through to the pid sweep
            print(f"cleanup of {name} failed: {error}", file=sys.stderr)
        for pid in marked_processes(marker):
            os.kill(pid, signal.SIGKILL)


def nxc(*args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None):
    """Run the real ``nxc`` CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
