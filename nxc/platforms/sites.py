"""Roles placed on several Grid'5000 sites: one OAR job per site, and which host runs which node.

Each Grid'5000 site has its own OAR server, reached by SSH to the site's frontend (``ssh nancy
oarsub ...`` works from any frontend, or from outside through an alias of ``~/.ssh/config``).
A deployment whose roles are placed on sites (``-r osd=site:nancy:8``) therefore holds one job
per site: :func:`site_requests` writes each site's request from its nodes (clusters within a
site become OAR ``+`` groups, as in :mod:`nxc.platforms.placement`), :func:`reserve_sites`
submits them all and waits until every one runs, and :func:`assign_site_hosts` gives each node
a host of its site (and of its cluster there). Nodes without a site form the group of the
default frontend, site ``None``.

A site may instead use a job the user holds there (``--oar-job nancy:1234``, never deleted);
the sites without one need a new reservation (:func:`check_sites_reservable`). A machine file
holds no sites.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from nxc.errors import InputError, NxcError, OarJobError, ResourceLimitError
from nxc.platforms.machinefile import Hosts
from nxc.platforms.oar import Frontend, Oar, OarJob, OarRequest
from nxc.platforms.placement import NodePlacement, assign_hosts, resource_groups, walltime_only

Site = str | None
"""A Grid'5000 site name, or ``None`` for the default frontend's."""


@dataclass(frozen=True)
class SiteRequest:
    """The OAR job to reserve on one site for the nodes placed there."""

    site: Site
    request: OarRequest | None
    """What to reserve (None: the site uses ``job_id``)."""
    placements: tuple[NodePlacement, ...]
    """The site's nodes, in plan order."""
    job_id: int | None = None
    """A job the user holds on the site, used instead of a new reservation."""


def check_sites_reservable(
    placements: Sequence[NodePlacement],
    oar_request: OarRequest | None,
    site_jobs: Mapping[str, int] | None = None,
) -> None:
    """Refuse, in one line, roles placed on a site that has neither a job of the user's
    (``site_jobs``, site → job id) nor a new reservation to make (``oar_request``, the
    walltime of every new site job); and a job given for a site no role is placed on."""
    jobs = site_jobs or {}
    placed = {placement.site for placement in placements if placement.site}
    stray = sorted(set(jobs) - placed)
    if stray:
        raise InputError.naming(
            f"{{oar_job}} names site(s) {', '.join(stray)}, where no role is placed; place "
            "roles there (-r ROLE=site:SITE:N) or drop those jobs",
            "oar_job",
        )
    if oar_request is None and placed - set(jobs):
        missing = ", ".join(sorted(placed - set(jobs)))
        raise InputError.naming(
            f"roles placed on sites need a new reservation per site ({missing}): give "
            "{oar_request} 'walltime=H:MM', or a job of yours there with {oar_job} SITE:ID",
            "oar_request",
            "oar_job",
        )


def site_requests(
    request: OarRequest | None,
    placements: Sequence[NodePlacement],
    site_jobs: Mapping[str, int] | None = None,
) -> list[SiteRequest]:
    """One request per site, sites in the order their first node comes in ``placements``.

    A site of ``site_jobs`` uses that job. Without any node placed (no site, no cluster), the
    one group of the default frontend asks for exactly ``request``. Otherwise ``request``
    gives only the walltime (:func:`~nxc.platforms.placement.walltime_only`) and each other
    site's hosts are written from its nodes; the job name, types, properties and folder are
    every site's.
    """
    jobs = site_jobs or {}
    if not any(placement.site or placement.cluster for placement in placements):
        return [SiteRequest(None, request, tuple(placements))]
    walltime = walltime_only(request.resources) if request is not None else ""
    entries = []
    for site, nodes in _by_site(placements).items():
        job_id = jobs.get(site) if site is not None else None
        if job_id is not None:
            entries.append(SiteRequest(site, None, nodes, job_id))
        elif request is not None:
            written = dataclasses.replace(request, resources=resource_groups(nodes, walltime))
            entries.append(SiteRequest(site, written, nodes))
        else:
            raise InputError.naming(
                f"the nodes of {_describe(site)} need a new reservation: give {{oar_request}} "
                "'walltime=H:MM'",
                "oar_request",
            )
    return entries


def site_frontend(site: Site, default_frontend: Frontend) -> Frontend:
    """Where ``site``'s OAR commands run: SSH to the site, with the default frontend's SSH
    options (an ``-F`` configuration naming the sites); ``None`` is the default frontend."""
    if site is None:
        return default_frontend
    return Frontend(host=site, ssh_options=default_frontend.ssh_options)


def reserve_sites(
    requests: Sequence[SiteRequest],
    default_frontend: Frontend,
    on_job: Callable[[OarJob], None],
    wait_timeout: float,
    poll_interval: float = 1.0,
) -> dict[Site, Hosts]:
    """Reserve every site's job and return each site's hosts once all of them run.

    The jobs are submitted in parallel (one thread per site); ``on_job(job)`` runs, in the
    calling thread, for each job as soon as OAR accepted it, so the caller records it before
    anything else can fail. Waiting is bounded by ``wait_timeout`` seconds. When a site's job
    is refused, ends or is still pending at the deadline, :class:`OarJobError` names the site
    (the other sites stop waiting at once); the jobs already reported through ``on_job`` are
    left for the caller to release.
    """
    oars = {entry.site: Oar(site_frontend(entry.site, default_frontend)) for entry in requests}
    with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
        submitted = {
            pool.submit(_job_of, oars[entry.site], entry): entry.site for entry in requests
        }
        jobs = _report_jobs(submitted, on_job)
        stop = threading.Event()
        waits = {
            pool.submit(_wait_running, oars[site], job, wait_timeout, stop, poll_interval): site
            for site, job in jobs.items()
        }
        try:
            return _collect_hosts(waits)
        finally:
            stop.set()


def assign_site_hosts(
    hosts_by_site: Mapping[Site, Hosts],
    placements: Sequence[NodePlacement],
    clusters_of: Callable[[Site], Mapping[str, str]],
) -> tuple[list[str], list[str]]:
    """``(assigned, unused)``: each node's host, in node order, and every site's hosts left.

    Each node gets a host of its site, and of its cluster there
    (:func:`~nxc.platforms.placement.assign_hosts`); ``clusters_of(site)`` gives the cluster
    of each host of a site (OAR's ``cluster`` property), asked only for sites with a node on
    a cluster. Raises :class:`ResourceLimitError` when a site has too few hosts.
    """
    assigned: dict[int, str] = {}
    unused: list[str] = []
    for site, indices in _indices_by_site(placements).items():
        nodes = [placements[index] for index in indices]
        hosts = hosts_by_site.get(site)
        if hosts is None:
            raise ResourceLimitError(
                f"no hosts were reserved on {_describe(site)} for {nodes[0].hostname}; reserve "
                "the deployment's hosts again"
            )
        if any(node.cluster for node in nodes):
            mine, left = assign_hosts(nodes, hosts.names, clusters_of(site), hosts.source)
        else:
            mine, left = hosts.split(len(nodes))
        assigned.update(zip(indices, mine, strict=True))
        unused.extend(left)
    return [assigned[index] for index in range(len(placements))], unused


def _by_site(placements: Sequence[NodePlacement]) -> dict[Site, tuple[NodePlacement, ...]]:
    """The nodes of each site, sites in the order of their first node."""
    return {
        site: tuple(placements[index] for index in indices)
        for site, indices in _indices_by_site(placements).items()
    }


def _indices_by_site(placements: Sequence[NodePlacement]) -> dict[Site, list[int]]:
    """The positions of each site's nodes in ``placements``, sites in their first node's order."""
    groups: dict[Site, list[int]] = {}
    for index, placement in enumerate(placements):
        groups.setdefault(placement.site, []).append(index)
    return groups


def _job_of(oar: Oar, entry: SiteRequest) -> OarJob:
    """The site's job: the user's (checked to be running or waiting), else a new one."""
    if entry.job_id is not None:
        return oar.existing_job(entry.job_id)
    assert entry.request is not None  # site_requests gives a request to every site without a job
    return oar.reserve(entry.request)


def _report_jobs(
    submitted: Mapping[Future[OarJob], Site], on_job: Callable[[OarJob], None]
) -> dict[Site, OarJob]:
    """Each accepted job, reported through ``on_job`` as it comes; then the first refusal."""
    jobs: dict[Site, OarJob] = {}
    refused: list[tuple[Site, NxcError]] = []
    for future in as_completed(submitted):
        site = submitted[future]
        try:
            job = future.result()
        except NxcError as refusal:
            refused.append((site, refusal))
            continue
        on_job(job)
        jobs[site] = job
    if refused:
        first_site, first_refusal = refused[0]
        raise _site_error(first_site, first_refusal) from first_refusal
    return {site: jobs[site] for site in submitted.values()}


def _collect_hosts(waits: Mapping[Future[Hosts | None], Site]) -> dict[Site, Hosts]:
    """Every site's hosts, or the error of the first site that fails."""
    hosts: dict[Site, Hosts] = {}
    for future in as_completed(waits):
        site = waits[future]
        try:
            result = future.result()
        except NxcError as error:
            raise _site_error(site, error) from error
        if result is not None:
            hosts[site] = result
    return {site: hosts[site] for site in waits.values()}


def _wait_running(
    oar: Oar, job: OarJob, timeout: float, stop: threading.Event, poll_interval: float
) -> Hosts | None:
    """``job``'s hosts once it runs; ``None`` if ``stop`` is set first (another site failed)."""
    deadline = time.monotonic() + timeout
    info = oar.job_info(job.job_id)
    while info.state != "Running":
        if info.ended:
            raise OarJobError(
                f"OAR job {job.job_id} ended before it started (state {info.state}); see "
                f"'oarstat -f -j {job.job_id}' there and start again"
            )
        if time.monotonic() >= deadline:
            raise OarJobError(
                f"OAR job {job.job_id} is still {info.state} after {timeout:.0f} s "
                f"({info.message}); wait longer or reserve fewer or other resources"
            )
        if stop.wait(poll_interval):
            return None
        info = oar.job_info(job.job_id)
    return Hosts(info.hosts, f"OAR job {job.job_id} on {oar.frontend.describe()}", job)


def _site_error(site: Site, error: NxcError) -> OarJobError:
    """``error`` as an :class:`OarJobError` that names ``site`` first."""
    return OarJobError(f"{_describe(site)}: {error}")


def _describe(site: Site) -> str:
    return "the default frontend" if site is None else f"site {site}"
