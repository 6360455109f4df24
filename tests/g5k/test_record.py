"""The Grid'5000 flavours' record sections: the JSON older nxc versions wrote reads back and is
written back with the same keys and values; a value of the wrong type names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.errors import DeploymentRecordError
from nxc.flavours.g5k.options import KexecOptions
from nxc.flavours.g5k.record import (
    AddedJobRecord,
    KexecResources,
    OarJobRecord,
    kexec_resources,
    secret_dir_of,
)
from nxc.platforms.oar import Frontend, OarJob

JOB = {
    "oar_job_id": 7,
    "created_by_nxc": True,
    "frontend": {"host": None, "ssh_options": []},
    "name": "nxc-0123456789ab",
}
WRITTEN_BEFORE_SECTIONS = {
    "secret_dir": "/s/composition::g5k-ramdisk/nodes",
    "oar": JOB,
    "added_jobs": [{**JOB, "oar_job_id": 8, "hosts": ["h3"], "released": True}],
    "hosts": ["h1", "h2"],
    "unused_hosts": [],
    "host_source": "OAR job 7",
    "info_server": {"address": "10.0.0.9", "port": 4000, "token": "t", "pid": 12, "marker": "m"},
    "info_delivery": "url",
    "push": "2 host(s) directly",
    "ssh_config": [],
    "host_user": "root",
    "host_ssh_options": ["-o", "X=y"],
    "kernel_params": ["quiet"],
}


def test_a_record_written_before_the_sections_reads_and_writes_back_the_same(tmp_path: Path):
    store = DeploymentStore(tmp_path / "deploy")
    store.save(Deployment("composition", "g5k-ramdisk", resources=dict(WRITTEN_BEFORE_SECTIONS)))
    resources = kexec_resources(store.load("composition::g5k-ramdisk"))
    assert resources.to_record() == WRITTEN_BEFORE_SECTIONS
    assert resources.oar is not None and resources.oar.job() == OarJob(
        7, True, Frontend(), name="nxc-0123456789ab"
    )
    assert [job.oar_job_id for job in resources.all_jobs()] == [8, 7]
    assert resources.ssh_config == ()  # the user's own OpenSSH configuration


def test_null_values_of_a_fresh_record_read_as_absent() -> None:
    stored = {"secret_dir": "/s", "oar": None, "hosts": [], "unused_hosts": [], "info_server": None}
    resources = KexecResources.from_record(stored)
    assert resources.oar is None and resources.info_server is None
    assert resources.to_record() == {"secret_dir": "/s", "hosts": [], "unused_hosts": []}


def test_a_job_record_keeps_the_job_s_keys() -> None:
    job = OarJob(9, False, Frontend("grenoble", ("-o", "A=b")), owner="me")
    assert OarJobRecord.of(job).to_record() == job.to_record()
    added = AddedJobRecord.of(job)
    added.hosts = ["h1"]
    assert added.to_record() == {**job.to_record(), "hosts": ["h1"]}


def test_an_older_record_without_the_host_access_keeps_the_options_one() -> None:
    given = KexecOptions(host_user="me", host_ssh_options=["-v"], kernel_params=["a b"])
    access = KexecResources().host_access(given.host_access())
    assert (access.user, access.ssh_options, access.kernel_params) == ("me", ("-v",), ("a", "b"))
    assert access.ssh_config is None  # none recorded: none used
    recorded = KexecResources()
    recorded.record_access(given.host_access())
    assert recorded.host_access(KexecOptions().host_access()) == given.host_access()


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"added_jobs": [{"hosts": "h1"}]}, r"'resources.added_jobs\[0\].hosts' must be a list"),
        ({"info_server": {"pid": "12"}}, "'resources.info_server.pid' must be an integer"),
        ({"oar": {"released": 1}}, "'resources.oar.released' must be true or false"),
    ],
)
def test_a_value_of_the_wrong_type_names_the_record_and_its_key(resources, message) -> None:
    deployment = Deployment("composition", "g5k-ramdisk", resources=resources)
    with pytest.raises(DeploymentRecordError, match=f"composition::g5k-ramdisk: {message}"):
        kexec_resources(deployment)


def test_a_record_without_a_private_folder_is_refused_by_name() -> None:
    deployment = Deployment("c", "g5k-image", nodes=[Node("n", "r", "10.0.0.1", "h")])
    with pytest.raises(DeploymentRecordError, match=r"'resources\.secret_dir' is missing"):
        secret_dir_of(deployment)
