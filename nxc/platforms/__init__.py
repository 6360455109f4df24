"""Where physical hosts come from: OAR jobs (Grid'5000 or any OAR cluster) and machine files.

The Grid'5000 flavours build on this layer:

- :class:`~nxc.platforms.oar.Oar` talks to OAR on a :class:`~nxc.platforms.oar.Frontend`
  (here or over SSH): ``reserve(OarRequest)`` → :class:`~nxc.platforms.oar.OarJob`,
  ``existing_job(id)``, ``wait_running(job, timeout)`` → :class:`Hosts`, ``hosts_of_job``,
  ``job_state``, ``ensure_alive`` (detects a job that ended or was deleted) and
  ``release(job)`` (deletes only jobs nxc created).
- :func:`read_machine_file` / :func:`wait_for_machine_file` (``-m FILE [-W]``) read host lists.
- :meth:`Hosts.split` gives ``(assigned, unused)`` hosts for the planned nodes and refuses
  before anything boots when there are too few.
- :mod:`nxc.platforms.kadeploy` describes Kadeploy environments, builds ``kadeploy3`` command
  lines and decides which nodes to deploy again.
"""

from nxc.platforms.machinefile import (
    Hosts,
    check_explicit_assignment,
    check_known_hosts,
    read_machine_file,
    split_hosts,
    wait_for_machine_file,
)
from nxc.platforms.oar import (
    Frontend,
    JobInfo,
    Oar,
    OarJob,
    OarRequest,
    job_id_from_environment,
)

__all__ = [
    "Frontend",
    "Hosts",
    "JobInfo",
    "Oar",
    "OarJob",
    "OarRequest",
    "check_explicit_assignment",
    "check_known_hosts",
    "job_id_from_environment",
    "read_machine_file",
    "split_hosts",
    "wait_for_machine_file",
]
