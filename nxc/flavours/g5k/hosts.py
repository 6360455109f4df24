"""Where the Grid'5000 flavours get their physical hosts: a new OAR job, an existing one, a file.

:class:`HostSource` is what the user asked for (``--oar``, ``--oar-job``, ``-m FILE [-W]``);
:func:`acquire_hosts` turns it into :class:`~nxc.platforms.machinefile.Hosts`, calling
``on_job`` with a job as soon as it exists so that the caller records it before waiting for it
(``nxc stop`` after a crash then still deletes a job nxc created). With roles placed on
clusters (:mod:`nxc.platforms.placement`) the OAR request is written from the placement and
:func:`assign_hosts_to_nodes` gives each node a host of its cluster. With roles placed on
sites (:mod:`nxc.platforms.sites`), :func:`place_nodes` reserves one job per site and gives
each node a host of its site; :func:`assign_free_hosts` does the same from hosts already held.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nxc.errors import InputError, ResourceLimitError
from nxc.platforms.machinefile import (
    Hosts,
    check_known_hosts,
    read_machine_file,
    wait_for_machine_file,
)
from nxc.platforms.oar import Frontend, Oar, OarJob, OarRequest, job_id_from_environment
from nxc.platforms.placement import NodePlacement, assign_hosts, resource_groups, walltime_only
from nxc.platforms.sites import (
    Site,
    assign_site_hosts,
    check_sites_reservable,
    reserve_sites,
    site_frontend,
    site_requests,
)
from nxc.programs import has_program

if TYPE_CHECKING:
    from nxc.flavours.g5k.record import OarJobRecord

DEFAULT_WAIT = 600.0


@dataclass(frozen=True)
class HostSource:
    """One way of getting hosts; exactly one of ``oar_request``, ``oar_job``, ``machine_file``.

    With none of them, the OAR job nxc runs inside (``OAR_JOB_ID``) is used. ``wait_timeout``
    bounds the wait for a pending job or (``wait_for_file``, ``-W``) for the machine file.
    ``check_with_oar`` checks a machine file's hosts against OAR's (``oarnodes``); ``None``:
    when OAR is reachable (a frontend host is given or ``oarnodes`` is installed).
    """

    oar_request: OarRequest | None = None
    oar_job: int | None = None
    machine_file: Path | None = None
    wait_for_file: bool = False
    frontend: Frontend = field(default_factory=Frontend)
    wait_timeout: float = DEFAULT_WAIT
    check_with_oar: bool | None = None
    site_jobs: tuple[tuple[str, int], ...] = ()
    """(site, job id) of jobs the user holds on sites roles are placed on (``--oar-job
    SITE:ID``); the other placed sites get new jobs from ``oar_request``."""

    def __post_init__(self) -> None:
        given = [
            name
            for name, value in (
                ("oar_request", self.oar_request),
                ("oar_job", self.oar_job),
                ("machine_file", self.machine_file),
            )
            if value is not None
        ]
        if len(given) > 1:
            fields = " and ".join("{" + name + "}" for name in given)
            raise InputError.naming(f"{fields} both give hosts; keep only one of them", *given)
        if self.site_jobs and self.machine_file is not None:
            raise InputError.naming(
                "{oar_job} SITE:ID and {machine_file} both give hosts; keep only one of them",
                "oar_job",
                "machine_file",
            )
        if self.wait_for_file and self.machine_file is None:
            raise InputError.naming(
                "{wait_for_file} waits for a machine file: give the file with {machine_file} FILE",
                "wait_for_file",
                "machine_file",
            )


def acquire_hosts(
    source: HostSource,
    on_job: Callable[[OarJob], None],
    placements: Sequence[NodePlacement] = (),
) -> Hosts:
    """The hosts ``source`` designates; ``on_job(job)`` runs as soon as a job is known.

    When some of ``placements`` (the deployment's nodes) are on a cluster, a new OAR job asks
    for one resource group per cluster (the user's request then gives only the walltime).
    """
    if source.machine_file is not None:
        return _from_file(source)
    oar = Oar(source.frontend)
    if source.oar_request is not None:
        job = oar.reserve(placed_request(source.oar_request, placements))
    else:
        job_id = source.oar_job if source.oar_job is not None else job_id_from_environment()
        if job_id is None:
            raise InputError.naming(
                "no hosts given: reserve some with {oar_request} 'nodes=N,walltime=H:MM', use a "
                "job with {oar_job} ID, or list hosts in a file with {machine_file} FILE",
                "oar_request",
                "oar_job",
                "machine_file",
            )
        job = oar.existing_job(job_id)
    on_job(job)
    return oar.wait_running(job, source.wait_timeout)


def placed_request(request: OarRequest, placements: Sequence[NodePlacement]) -> OarRequest:
    """``request`` with its hosts written from ``placements`` when a node is on a cluster."""
    if not any(placement.cluster for placement in placements):
        return request
    groups = resource_groups(placements, walltime_only(request.resources))
    return dataclasses.replace(request, resources=groups)


def assign_hosts_to_nodes(
    hosts: Hosts, placements: Sequence[NodePlacement], frontend: Frontend
) -> tuple[list[str], list[str]]:
    """``(assigned, unused)``: each node's host, in node order, and the hosts left over.

    Nodes placed on a cluster get hosts of that cluster (OAR's ``cluster`` property), the
    others the hosts left; without placement, hosts go to nodes in order.
    """
    if not any(placement.cluster for placement in placements):
        return hosts.split(len(placements))
    clusters = Oar(frontend).host_clusters()
    return assign_hosts(placements, hosts.names, clusters, hosts.source)


def _from_file(source: HostSource) -> Hosts:
    path = source.machine_file
    assert path is not None
    names = (
        wait_for_machine_file(path, source.wait_timeout)
        if source.wait_for_file
        else read_machine_file(path)
    )
    where = f"machine file {path}"
    check = source.check_with_oar
    if check is None:
        check = source.frontend.host is not None or has_program("oarnodes")
    if check:
        check_known_hosts(names, Oar(source.frontend).declared_hosts(), where, "OAR (oarnodes)")
    return Hosts(tuple(names), where)


def release(job_record: OarJobRecord | None) -> None:
    """Delete the recorded job if nxc created it (a job already over is fine)."""
    if job_record is None:
        return
    job = job_record.job()
    if job.created_by_nxc:
        Oar(job.frontend).release(job)


@dataclass(frozen=True)
class PlacedHosts:
    """Hosts for a list of nodes: each node's, the ones left, and where they came from."""

    assigned: list[str]
    """Node *i*'s host, in node order."""
    unused: list[str]
    source: str
    """How messages name where the hosts came from."""
    hosts_of_job: dict[int, list[str]] = field(default_factory=dict)
    """OAR job id → the hosts it gave (with roles placed on sites, each site's job)."""
    host_sites: dict[str, str] = field(default_factory=dict)
    """Host → the site it was reserved on (hosts of the default frontend are absent)."""


def place_nodes(
    source: HostSource, on_job: Callable[[OarJob], None], placements: Sequence[NodePlacement]
) -> PlacedHosts:
    """Hosts for the nodes of ``placements`` from ``source``: one job (``+`` groups for
    clusters) or, when some are placed on sites, one job per site through that site's
    frontend; ``on_job`` runs for each job as soon as it exists."""
    site_jobs = dict(source.site_jobs)
    if not any(placement.site for placement in placements) and not site_jobs:
        hosts = acquire_hosts(source, on_job, placements)
        frontend = hosts.job.frontend if hosts.job else source.frontend
        assigned, unused = assign_hosts_to_nodes(hosts, placements, frontend)
        jobs = {hosts.job.job_id: [*assigned, *unused]} if hosts.job else {}
        return PlacedHosts(assigned, unused, hosts.source, jobs)
    check_sites_reservable(placements, source.oar_request, site_jobs)
    by_site = reserve_sites(
        site_requests(source.oar_request, placements, site_jobs),
        source.frontend,
        on_job,
        source.wait_timeout,
    )

    def clusters_of(site: Site) -> dict[str, str]:
        return Oar(site_frontend(site, source.frontend)).host_clusters()

    assigned, unused = assign_site_hosts(by_site, placements, clusters_of)
    return PlacedHosts(
        assigned,
        unused,
        "; ".join(hosts.source for hosts in by_site.values()),
        {hosts.job.job_id: list(hosts.names) for hosts in by_site.values() if hosts.job},
        {host: site for site, hosts in by_site.items() if site for host in hosts.names},
    )


def assign_free_hosts(
    free: Hosts,
    placements: Sequence[NodePlacement],
    host_sites: dict[str, str],
    frontend: Frontend,
) -> tuple[list[str], list[str]]:
    """``(assigned, unused)`` from hosts the deployment already holds: a node placed on a site
    gets one of that site's (``host_sites``), the others the hosts of no site."""
    if not any(placement.site for placement in placements) and not host_sites:
        return assign_hosts_to_nodes(free, placements, frontend)
    by_site: dict[Site, Hosts] = {}
    for host in free.names:
        site = host_sites.get(host)
        known = by_site.get(site)
        names = (*known.names, host) if known else (host,)
        by_site[site] = Hosts(names, free.source)
    for placement in placements:
        by_site.setdefault(placement.site, Hosts((), free.source))
    short = [
        site
        for site in by_site
        if len(by_site[site].names) < sum(1 for p in placements if p.site == site)
    ]
    if short:
        where = ", ".join("hosts of no site" if site is None else f"site {site}" for site in short)
        raise ResourceLimitError.naming(
            f"{free.source} have too few hosts on {where} for the new nodes; reserve hosts "
            "for them with {oar_request} 'walltime=H:MM'",
            "oar_request",
        )

    def clusters_of(site: Site) -> dict[str, str]:
        return Oar(site_frontend(site, frontend)).host_clusters()

    assigned, unused = assign_site_hosts(by_site, placements, clusters_of)
    wanted = {placement.site for placement in placements}
    untouched = [
        host for site, hosts in by_site.items() if site not in wanted for host in hosts.names
    ]
    return assigned, [*unused, *untouched]
