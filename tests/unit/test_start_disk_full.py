"""``nxc start`` on a full disk: a real ENOSPC from a small tmpfs holding ``deploy/``.

The flavour is a minimal one written here (its start writes a node log until the disk is
full, its stop records the nodes stopped, as the vm flavour does): QEMU adds nothing to what
is tested, which is what the orchestration does when the record cannot be written.
Needs root (to mount the tmpfs); skipped otherwise.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc import manifest as manifest_module
from nxc.deploy import start_deployment
from nxc.deployment import Deployment, DeploymentState, DeploymentStore
from nxc.errors import DeploymentRecordError
from nxc.flavours.base import Flavour, LiveState
from nxc.plan import plan_nodes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)


class FillingFlavour(Flavour):
    """Starts nothing: writes the node's log until the disk is full, as a chatty QEMU would."""

    name = "vm"

    def __init__(self, frees_on_stop: bool = False) -> None:
        self.frees_on_stop = frees_on_stop
        self.stopped = False

    def start(self, deployment, manifest, store, progress) -> None:
        with (store.log_dir(deployment.name) / "node.log").open("wb", buffering=0) as log:
            while True:
                log.write(b"x" * 4096)  # OSError ENOSPC, without a file name

    def stop(self, deployment: Deployment, store: DeploymentStore, force: bool = False) -> None:
        self.stopped = True
        if self.frees_on_stop:
            (store.log_dir(deployment.name) / "node.log").unlink()
        deployment.state = DeploymentState.stopped
        store.save(deployment)

    def probe(self, deployment: Deployment) -> dict[str, LiveState]:
        return {}


def start(store: DeploymentStore, flavour: Flavour) -> None:
    manifest = manifest_module.load(FIXTURES / "cluster-vm.json")
    start_deployment(store, manifest, plan_nodes(manifest, None), flavour)


def test_a_start_that_fills_the_disk_says_the_record_is_stale_and_what_to_run(
    small_disk: Path,
) -> None:
    store = DeploymentStore(small_disk / "deploy")
    flavour = FillingFlavour()
    with pytest.raises(DeploymentRecordError) as caught:
        start(store, flavour)
    message = str(caught.value)
    assert flavour.stopped
    assert message.startswith("starting composition::vm failed (No space left on device)")
    assert str(store.path_for("composition::vm")) in message  # the file it could not write
    assert "may still say 'starting'" in message
    assert "run 'nxc stop composition::vm'" in message


def test_enospc_without_a_file_name_names_where_the_state_goes(small_disk: Path) -> None:
    store = DeploymentStore(small_disk / "deploy")
    with pytest.raises(DeploymentRecordError) as caught:
        start(store, FillingFlavour(frees_on_stop=True))
    message = str(caught.value)
    assert "no space left on device while writing its state under" in message
    assert str(store.deploy_dir) in message
    assert store.load("composition::vm").state is DeploymentState.failed


def test_stop_on_a_full_disk_still_stops_then_says_the_record_is_stale(small_disk: Path) -> None:
    """The real vm flavour's stop (nothing recorded to kill), on a disk filled after start."""
    from nxc.deploy import stop_deployment

    store = DeploymentStore(small_disk / "deploy")
    store.save(Deployment("comp", "vm", state=DeploymentState.running))
    filler = (small_disk / "filler").open("wb", buffering=0)
    with filler, pytest.raises(OSError, match="No space left"):
        while True:
            filler.write(b"x" * 4096)
    with pytest.raises(DeploymentRecordError) as caught:
        stop_deployment(store, "comp::vm")
    message = str(caught.value)
    assert message.startswith("comp::vm: the nodes were told to stop, but ")
    assert "No space left on device" in message and "run 'nxc stop comp::vm' again" in message
