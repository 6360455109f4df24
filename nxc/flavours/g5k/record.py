"""What the Grid'5000 flavours keep in a deployment record, as typed sections
(:mod:`nxc.record_section`): :class:`KexecResources` in ``resources``, :class:`KexecNodeFacts`
in each node's ``extra``.

The keys and value shapes on disk are those the flavours wrote before these sections existed,
so that older records still read; ``stop`` reads the OAR jobs (deleting only those nxc created)
and the info server (stopped only if its pid still carries its marker) from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from nxc.errors import DeploymentRecordError
from nxc.flavours.g5k.options import HostAccess
from nxc.platforms.oar import OarJob
from nxc.record_section import CommonResources, Section, resources_of

if TYPE_CHECKING:
    from nxc.deployment import Deployment
    from nxc.infoserver import InfoServer


@dataclass
class OarJobRecord(Section):
    """An OAR job holding hosts of the deployment (:meth:`OarJob.to_record`'s keys)."""

    oar_job_id: int | None = None
    created_by_nxc: bool = False
    frontend: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    owner: str | None = None
    released: bool | None = None
    """True once ``stop`` deleted it (or found it nxc's not to delete): a second stop need not
    reach OAR. Absent before."""

    @classmethod
    def of(cls, job: OarJob) -> Self:
        """The record of ``job``."""
        return cls.from_record(job.to_record(), "oar")

    def job(self) -> OarJob:
        """The recorded job."""
        return OarJob.from_record(self.to_record())


@dataclass
class AddedJobRecord(OarJobRecord):
    """An OAR job with the hosts it gave: reserved for nodes added to the running deployment,
    or one site's job of a deployment on several sites."""

    hosts: list[str] = field(default_factory=list)
    site: str | None = None
    """The Grid'5000 site whose OAR server holds the job (None: the default frontend's)."""


@dataclass
class InfoServerRecord(Section):
    """The deployment's info server (:meth:`InfoServer.to_record`'s keys); records of older nxc
    versions have no ``marker`` (their server is named by its token)."""

    address: str | None = None
    port: int | None = None
    token: str | None = None
    pid: int | None = None
    marker: str | None = None

    @classmethod
    def of(cls, server: InfoServer) -> Self:
        """The record of ``server``."""
        return cls.from_record(server.to_record(), "info_server")


@dataclass
class KexecResources(CommonResources):
    """The ``resources`` of a Grid'5000 deployment."""

    oar: OarJobRecord | None = None
    """The OAR job the deployment started on (None: hosts from a machine file)."""
    added_jobs: list[AddedJobRecord] | None = None
    """The OAR jobs reserved for nodes added since (absent until the first)."""
    site_jobs: list[AddedJobRecord] | None = None
    """With roles placed on several sites: the other sites' jobs (``oar`` is the first
    site's); absent otherwise."""
    host_sites: dict[str, str] | None = None
    """With roles placed on sites: the site of each host reserved on one."""
    hosts: list[str] = field(default_factory=list)
    """The hosts nodes run on, in node order."""
    unused_hosts: list[str] = field(default_factory=list)
    """The deployment's hosts no node runs on (nodes added later get them first)."""
    host_source: str | None = None
    """How messages name where the hosts came from."""
    info_server: InfoServerRecord | None = None
    info_delivery: str | None = None
    """``inline`` or ``url``: how the nodes got the deployment info."""
    push: str | None = None
    """What the last broadcast of the boot files did (a summary line)."""
    ssh_config: tuple[str, ...] | None = None
    """The OpenSSH configuration the nodes are reached with (:mod:`nxc.transport.sshconfig`)."""
    host_user: str | None = None
    host_ssh_options: list[str] | None = None
    kernel_params: list[str] | None = None

    def record_access(self, access: HostAccess) -> None:
        """Keep ``access`` for the nodes added later."""
        self.ssh_config = access.ssh_config
        self.host_user = access.user
        self.host_ssh_options = list(access.ssh_options)
        self.kernel_params = list(access.kernel_params)

    def host_access(self, default: HostAccess) -> HostAccess:
        """The recorded access; what a record of an older nxc lacks is ``default``'s (but no
        SSH configuration when none was recorded)."""
        return HostAccess(
            user=default.user if self.host_user is None else self.host_user,
            ssh_options=tuple(
                default.ssh_options if self.host_ssh_options is None else self.host_ssh_options
            ),
            ssh_config=self.ssh_config,
            kernel_params=tuple(
                default.kernel_params if self.kernel_params is None else self.kernel_params
            ),
        )

    def all_jobs(self) -> list[OarJobRecord]:
        """The jobs added for nodes, the other sites' jobs, then the first one, those recorded."""
        first = [self.oar] if self.oar is not None else []
        return [*(self.added_jobs or []), *(self.site_jobs or []), *first]

    def deployment_jobs(self) -> list[OarJobRecord]:
        """The jobs the deployment started on (the first site's, then the others')."""
        first = [self.oar] if self.oar is not None else []
        return [*first, *(self.site_jobs or [])]

    def jobs_with_hosts(self) -> list[AddedJobRecord]:
        """The jobs that hold only some of the hosts (added ones, other sites')."""
        return [*(self.added_jobs or []), *(self.site_jobs or [])]


@dataclass
class KexecNodeFacts(Section):
    """A node's ``extra``: the host it runs on."""

    host: str | None = None


def kexec_resources(deployment: Deployment) -> KexecResources:
    """The deployment's resources (:class:`DeploymentRecordError` if they do not fit)."""
    return resources_of(KexecResources, deployment)


def secret_dir_of(deployment: Deployment) -> Path:
    """The deployment's private folder of node secrets; :class:`DeploymentRecordError` if the
    record names none."""
    from nxc.deployment import CORRUPT_RECORD_HINT

    secret_dir = kexec_resources(deployment).secret_dir
    if secret_dir is None:
        raise DeploymentRecordError(
            f"deployment record {deployment.name}: 'resources.secret_dir' is missing; "
            f"{CORRUPT_RECORD_HINT}"
        )
    return secret_dir
