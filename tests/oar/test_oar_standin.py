"""nxc.platforms against a real OAR 2.5 server (the local Grid'5000 stand-in of conftest.py).

Jobs are submitted as the unprivileged test user through ``Frontend(wrapper=runuser ...)``;
nodes are network namespaces declared ``deploy=YES``, so ``-t deploy`` jobs behave as on
Grid'5000: the command runs on the server host with the hosts in ``$OAR_NODEFILE``.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import replace

import pytest

from nxc.errors import (
    MachineFileError,
    NodeTimeoutError,
    OarJobError,
    ResourceLimitError,
    UnsafeRecordError,
)
from nxc.platforms import (
    Oar,
    OarJob,
    OarRequest,
    check_known_hosts,
    read_machine_file,
    wait_for_machine_file,
)

pytestmark = pytest.mark.oar

START_TIMEOUT = 60.0


@pytest.fixture
def oar(oar_standin):
    client = Oar(oar_standin.frontend)
    yield client
    oar_standin.delete_all_jobs()


def _user_oarsub(standin, *argv: str) -> int:
    """Submit a job the way a user would, outside nxc; return its id."""
    result = subprocess.run(
        [*standin.frontend.wrapper, "oarsub", *argv],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return int(result.stdout.split("OAR_JOB_ID=")[1].split()[0])


def test_deploy_reservation_gives_the_hosts_of_its_nodefile(oar, oar_standin, record_property):
    folder = oar_standin.user_dir("nodefile")
    nodefile_copy = folder / "nodes"
    request = OarRequest(
        "nodes=2",
        walltime="0:10:00",
        job_types=("deploy",),
        directory=str(folder),
        command=f"cp $OAR_NODEFILE {nodefile_copy}; sleep infinity",
    )
    started = time.monotonic()
    job = oar.reserve(request)
    hosts = oar.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.1)
    latency = time.monotonic() - started
    record_property("oar_submit_to_running_seconds", round(latency, 2))
    print(f"OAR submit-to-running latency: {latency:.2f} s")

    assert job.created_by_nxc
    assert hosts.job == job and hosts.source == f"OAR job {job.job_id}"
    assert len(hosts.names) == 2 and set(hosts.names) <= set(oar_standin.hosts)
    assert "deploy" in oar.job_info(job.job_id).types
    from_nodefile = wait_for_machine_file(nodefile_copy, timeout=30, poll_interval=0.2)
    assert sorted(from_nodefile) == sorted(hosts.names)

    assert oar.release(job) is True
    deadline = time.monotonic() + 30
    while not oar.job_info(job.job_id).ended and time.monotonic() < deadline:
        time.sleep(0.2)
    assert oar.job_info(job.job_id).ended


def test_existing_job_gives_hosts_and_is_never_released(oar, oar_standin):
    folder = oar_standin.user_dir("existing")
    job_id = _user_oarsub(
        oar_standin, "-t", "deploy", "-l", "nodes=1", "-d", str(folder), "sleep infinity"
    )
    job = oar.existing_job(job_id)
    hosts = oar.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.2)

    assert job.created_by_nxc is False
    assert len(hosts.names) == 1
    assert oar.hosts_of_job(job).names == hosts.names
    assert oar.release(job) is False
    time.sleep(1)
    assert oar.job_state(job_id) == "Running"


def test_job_deleted_mid_deployment_is_reported(oar, oar_standin):
    job = oar.reserve(OarRequest("nodes=1", job_types=("deploy",), directory="/tmp"))
    oar.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.2)
    oar.ensure_alive(job)

    subprocess.run(
        [*oar_standin.frontend.wrapper, "oardel", str(job.job_id)],
        check=True,
        capture_output=True,
        cwd="/",
    )
    deadline = time.monotonic() + 30
    with pytest.raises(OarJobError, match=rf"OAR job {job.job_id} was deleted"):
        while time.monotonic() < deadline:
            oar.ensure_alive(job)
            time.sleep(0.2)
    with pytest.raises(OarJobError, match="hosts are gone"):
        oar.hosts_of_job(job)
    assert oar.release(job) is True


def test_unknown_job_and_refused_reservation_are_clear_errors(oar, oar_standin):
    with pytest.raises(OarJobError, match="OAR job 987654 does not exist"):
        oar.existing_job(987654)
    too_many = len(oar_standin.hosts) + 2
    with pytest.raises(OarJobError, match=f"refused the reservation 'nodes={too_many}'"):
        oar.reserve(OarRequest(f"nodes={too_many}", directory="/tmp"))


def test_fewer_hosts_than_nodes_is_refused_and_extra_hosts_are_unused(oar):
    job = oar.reserve(OarRequest("nodes=2", job_types=("deploy",), directory="/tmp"))
    hosts = oar.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.2)

    with pytest.raises(ResourceLimitError, match=rf"OAR job {job.job_id} gives 2 host\(s\)"):
        hosts.split(3)
    assigned, unused = hosts.split(1)
    assert assigned == [hosts.names[0]] and unused == [hosts.names[1]]


def test_machine_file_with_hosts_unknown_to_oar_or_the_job(oar, oar_standin, tmp_path):
    machine_file = tmp_path / "machines"
    machine_file.write_text(f"{oar_standin.hosts[0]}\nghost-7.example\n")
    hosts = read_machine_file(machine_file)
    with pytest.raises(MachineFileError, match=r"unknown to OAR on this machine: ghost-7\.example"):
        check_known_hosts(
            hosts, oar.declared_hosts(), f"machine file {machine_file}", "OAR on this machine"
        )

    job = oar.reserve(OarRequest("nodes=1", job_types=("deploy",), directory="/tmp"))
    in_job = oar.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.2)
    outsider = next(h for h in oar_standin.hosts if h not in in_job.names)
    machine_file.write_text(f"{in_job.names[0]}\n{outsider}\n")
    with pytest.raises(MachineFileError, match=rf"unknown to OAR job {job.job_id}: {outsider}"):
        check_known_hosts(
            read_machine_file(machine_file), in_job.names, str(machine_file), in_job.source
        )


def test_wait_flag_waits_for_the_nodefile_a_job_writes(oar, oar_standin):
    folder = oar_standin.user_dir("wait")
    target = folder / "OAR.nodes"
    job = oar.reserve(
        OarRequest(
            "nodes=2",
            job_types=("deploy",),
            directory=str(folder),
            command=f"sleep 2; cat $OAR_NODEFILE > {target}; sleep infinity",
        )
    )
    assert not target.exists()
    hosts = wait_for_machine_file(target, timeout=60, poll_interval=0.3)
    assert sorted(hosts) == sorted(oar.hosts_of_job(job).names)

    never = folder / "never-written"
    started = time.monotonic()
    with pytest.raises(NodeTimeoutError, match=f"machine file {never} still does not exist"):
        wait_for_machine_file(never, timeout=1.5, poll_interval=0.3)
    assert 1.5 <= time.monotonic() - started < 5


def test_reservation_through_an_ssh_frontend(oar_standin, oar_ssh_frontend, record_property):
    """nxc outside Grid'5000: every OAR command goes through SSH to the frontend."""
    remote = Oar(oar_ssh_frontend.frontend)
    started = time.monotonic()
    job = remote.reserve(OarRequest("nodes=2", walltime="0:05:00", job_types=("deploy",)))
    hosts = remote.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.1)
    latency = time.monotonic() - started
    record_property("oar_ssh_submit_to_running_seconds", round(latency, 2))
    print(f"OAR submit-to-running latency through SSH: {latency:.2f} s")
    try:
        assert job.frontend == oar_ssh_frontend.frontend
        assert len(hosts.names) == 2 and set(hosts.names) <= set(oar_standin.hosts)
    finally:
        assert remote.release(job) is True
    deadline = time.monotonic() + 30
    while not remote.job_info(job.job_id).ended and time.monotonic() < deadline:
        time.sleep(0.2)
    assert remote.job_state(job.job_id) == "Error"


def test_reserved_job_records_its_own_name_and_owner(oar, oar_standin):
    job = oar.reserve(OarRequest("nodes=1", job_types=("deploy",), directory="/tmp"))
    info = oar.job_info(job.job_id)
    assert re.fullmatch(r"nxc-[0-9a-f]{12}", job.name or "") and info.name == job.name
    assert job.owner == info.owner == oar_standin.user
    again = OarJob.from_record(job.to_record())
    assert (again.name, again.owner) == (job.name, job.owner)


@pytest.mark.parametrize("legacy", [False, True], ids=["named-record", "record-without-name"])
def test_record_naming_a_job_nxc_did_not_reserve_never_deletes_it(oar, oar_standin, legacy):
    """A hand-edited (or stale) record says created_by_nxc for the user's own job: stop keeps it."""
    folder = oar_standin.user_dir("theirs")
    job_id = _user_oarsub(
        oar_standin, "-n", "experiment", "-l", "nodes=1", "-d", str(folder), "sleep infinity"
    )
    oar.wait_running(oar.existing_job(job_id), timeout=START_TIMEOUT, poll_interval=0.2)
    record = {"oar_job_id": job_id, "created_by_nxc": True}
    if not legacy:
        record |= {"name": "nxc-0123456789ab", "owner": oar_standin.user}
    forged = OarJob.from_record(record | {"frontend": oar_standin.frontend.to_record()})

    with pytest.raises(UnsafeRecordError, match=rf"OAR job {job_id} is named 'experiment'"):
        oar.release(forged)
    time.sleep(1)
    assert oar.job_state(job_id) == "Running"


def test_record_with_another_owner_never_deletes_the_job(oar, oar_standin):
    job = oar.reserve(OarRequest("nodes=1", job_types=("deploy",), directory="/tmp"))
    oar.wait_running(job, timeout=START_TIMEOUT, poll_interval=0.2)
    forged = replace(job, owner="someone-else")
    with pytest.raises(UnsafeRecordError, match="belongs to 'nxcuser', not 'someone-else'"):
        oar.release(forged)
    assert oar.job_state(job.job_id) == "Running"
    assert oar.release(job) is True
