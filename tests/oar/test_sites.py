"""Roles placed on two sites against the real OAR server of conftest.py, reached over SSH.

Two aliases of one OpenSSH configuration, ``nancy`` and ``lyon``, both name the stand-in's SSH
frontend: each site's job goes through its own alias, as on Grid'5000 where each site has its
own OAR server.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from nxc.errors import OarJobError
from nxc.platforms import Oar, OarJob, OarRequest
from nxc.platforms.oar import Frontend
from nxc.platforms.placement import NodePlacement
from nxc.platforms.sites import assign_site_hosts, reserve_sites, site_frontend, site_requests

pytestmark = pytest.mark.oar

NODES = [
    NodePlacement("osd1", "beta", "nancy"),
    NodePlacement("client1", None, "lyon"),
]


def request() -> OarRequest:
    return OarRequest("walltime=0:05:00", job_types=("deploy",), directory="/tmp")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def two_sites(oar_ssh_frontend, tmp_path) -> Frontend:
    """The default frontend, whose ``-F`` configuration names the sites nancy and lyon."""
    config = tmp_path / "ssh_config"
    config.write_text(oar_ssh_frontend.ssh_config("nancy") + oar_ssh_frontend.ssh_config("lyon"))
    return Frontend(host="nancy", ssh_options=("-F", str(config)))


@pytest.fixture
def lyon_down(oar_ssh_frontend, tmp_path) -> Frontend:
    """nancy as in :func:`two_sites`; lyon's frontend refuses every connection."""
    config = tmp_path / "ssh_config"
    config.write_text(
        oar_ssh_frontend.ssh_config("nancy")
        + f"Host lyon\n  HostName 127.0.0.1\n  Port {closed_port()}\n  ConnectTimeout 5\n"
    )
    return Frontend(host="nancy", ssh_options=("-F", str(config)))


def release_all(jobs: list[OarJob]) -> None:
    for job in jobs:
        Oar(job.frontend).release(job)


def live_jobs_named(oar_standin, name: str) -> list[str]:
    """The jobs called ``name`` that OAR does not report as over."""
    jobs = json.loads(oar_standin.admin("oarstat", "-J") or "{}")
    return [
        job
        for job, info in jobs.items()
        if info.get("name") == name and info.get("state") not in ("Terminated", "Error")
    ]


def gone_after_release(oar_standin, name: str, timeout: float = 30.0) -> bool:
    """Whether every job called ``name`` is over within ``timeout`` (oardel is asynchronous)."""
    deadline = time.monotonic() + timeout
    while live_jobs_named(oar_standin, name):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True


def test_one_job_per_site_through_its_alias_and_nodes_on_hosts_of_their_site(
    oar_standin, two_sites
):
    requests = site_requests(request(), NODES)
    jobs: list[OarJob] = []
    try:
        hosts = reserve_sites(requests, two_sites, jobs.append, wait_timeout=60, poll_interval=0.2)
        assert sorted(job.frontend.host for job in jobs) == ["lyon", "nancy"]
        assert all(job.frontend.ssh_options == two_sites.ssh_options for job in jobs)
        assert len(live_jobs_named(oar_standin, requests[0].request.name)) == 2
        assert {site: hosts[site].job for site in hosts} == {job.frontend.host: job for job in jobs}

        def clusters_of(site):
            return Oar(site_frontend(site, two_sites)).host_clusters()

        assigned, unused = assign_site_hosts(hosts, NODES, clusters_of)
        assert assigned == [hosts["nancy"].names[0], hosts["lyon"].names[0]]
        assert oar_standin.clusters[assigned[0]] == "beta"
        assert assigned[0] != assigned[1] and unused == []
    finally:
        release_all(jobs)
    assert gone_after_release(oar_standin, requests[0].request.name)


def test_a_site_whose_frontend_does_not_answer_fails_naming_it_once_the_other_is_reported(
    oar_standin, lyon_down
):
    requests = site_requests(request(), NODES)
    jobs: list[OarJob] = []
    try:
        with pytest.raises(OarJobError, match=r"^site lyon: .*frontend lyon") as caught:
            reserve_sites(requests, lyon_down, jobs.append, wait_timeout=60, poll_interval=0.2)
        assert "Connection refused" in str(caught.value)
        assert [job.frontend.host for job in jobs] == ["nancy"]
        assert len(live_jobs_named(oar_standin, requests[0].request.name)) == 1
    finally:
        release_all(jobs)
    assert gone_after_release(oar_standin, requests[0].request.name)


def test_a_site_may_use_a_job_of_the_users_while_the_other_gets_a_new_one(oar_standin, two_sites):
    """``--oar-job lyon:ID``: lyon's nodes go on that job (never nxc's to delete), nancy's on
    a job nxc reserves."""
    mine = Oar(site_frontend("lyon", two_sites)).reserve(
        OarRequest("nodes=1,walltime=0:05:00", job_types=("deploy",), directory="/tmp")
    )
    jobs: list[OarJob] = []
    try:
        requests = site_requests(request(), NODES, {"lyon": mine.job_id})
        assert [(entry.site, entry.job_id) for entry in requests] == [
            ("nancy", None),
            ("lyon", mine.job_id),
        ]
        hosts = reserve_sites(requests, two_sites, jobs.append, wait_timeout=60, poll_interval=0.2)
        used = {job.frontend.host: job for job in jobs}
        assert used["lyon"].job_id == mine.job_id and not used["lyon"].created_by_nxc
        assert used["nancy"].created_by_nxc and used["nancy"].job_id != mine.job_id
        assert hosts["lyon"].job == used["lyon"]
    finally:
        release_all([job for job in jobs if job.created_by_nxc] + [mine])
