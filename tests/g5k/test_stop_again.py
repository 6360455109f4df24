"""A g5k deployment stopped once is stopped again without OAR: its jobs are recorded as
released. The frontend named is one that cannot be reached, so any OAR call fails."""

from __future__ import annotations

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node
from nxc.errors import NxcError
from nxc.flavours.g5k.ramdisk import KexecFlavour

UNREACHABLE = {"host": "nxc-no-such-frontend.invalid", "ssh_options": ["-o", "ConnectTimeout=2"]}


def _stopped_once(tmp_path, released: bool) -> tuple[Deployment, DeploymentStore]:
    store = DeploymentStore(tmp_path / "deploy")
    job = {"oar_job_id": 7, "created_by_nxc": True, "frontend": UNREACHABLE}
    if released:
        job["released"] = True
    deployment = Deployment(
        "composition",
        "g5k-ramdisk",
        nodes=[Node("server", "server", address="10.0.0.1", ssh_host="host-1")],
        state=DeploymentState.stopped,
    )
    deployment.resources = {"oar": job, "added_jobs": [dict(job, oar_job_id=8)]}
    store.save(deployment)
    return deployment, store


def test_a_second_stop_does_not_ask_oar(tmp_path):
    deployment, store = _stopped_once(tmp_path, released=True)
    KexecFlavour().stop(deployment, store)
    assert store.load(deployment.name).state is DeploymentState.stopped


def test_a_job_not_yet_released_is_released(tmp_path):
    """The contrast: without the mark, stop asks the (unreachable) frontend."""
    deployment, store = _stopped_once(tmp_path, released=False)
    with pytest.raises(NxcError):
        KexecFlavour().stop(deployment, store)
