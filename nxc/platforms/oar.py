"""OAR, the resource manager of Grid'5000: reserve hosts, use an existing job, release it.

Every OAR command runs through a :class:`Frontend`: on this machine (nxc runs on the
frontend), or through SSH to a frontend (nxc runs outside Grid'5000). Commands are argument
lists; through SSH they are quoted with :func:`shlex.join` for the remote shell.

Facts this module relies on (OAR 2.5, as used on Grid'5000 and by execo's ``execo_g5k.oar``):
``oarsub`` prints ``OAR_JOB_ID=<n>`` on success (a negative id or a non-zero exit status on
refusal); ``oarstat -f -j N -J`` prints a JSON object keyed by the job id with ``state``,
``owner``, ``name``, ``types`` and, once the job runs, ``assigned_network_address``; it prints
nothing for an unknown job. A job deleted with ``oardel`` ends in state ``Error``; one that reached its
walltime or whose command ended, in ``Terminated``.

A job nxc reserves gets a name of its own (``nxc-`` and 12 hexadecimal digits, ``-n``); its
record keeps that name and the job's owner, and :meth:`Oar.release` deletes a job only while
OAR still reports both, so a record edited by hand or left from another job never makes
``oardel`` delete a job that is not this deployment's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nxc.errors import (
    ExternalCommandError,
    InputError,
    OarJobError,
    UnsafeRecordError,
)
from nxc.platforms.machinefile import Hosts
from nxc.programs import find_program

ENDED_STATES = frozenset({"Terminated", "Error"})
"""States of a job that will never run again."""

PENDING_STATES = frozenset(
    {"Waiting", "Hold", "toLaunch", "toAckReservation", "Launching", "Resuming", "Suspended"}
)
"""States of a job that may still reach ``Running``."""

JOB_ID_LINE = re.compile(r"^OAR_JOB_ID=(-?\d+)\s*$", re.MULTILINE)
WALLTIME = re.compile(r"^\d+(:\d{1,2}){0,2}$")
NXC_JOB_NAME = "nxc"
"""The name of the jobs older nxc versions reserved, all alike (their records hold no name)."""
JOB_NAME = re.compile(r"^nxc-[0-9a-f]{12}$")
DEFAULT_COMMAND_TIMEOUT = 60.0


def new_job_name() -> str:
    """A fresh job name, ``nxc-`` and 12 hexadecimal digits, that only one deployment holds."""
    return f"nxc-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Frontend:
    """Where OAR commands run.

    ``host`` is an SSH destination (an alias from ``~/.ssh/config`` such as a Grid'5000 site
    name, or ``user@host``); ``None`` runs them here. ``wrapper`` prefixes local commands
    (e.g. ``("runuser", "-u", "alice", "--")`` to submit as another user).
    """

    host: str | None = None
    ssh_options: tuple[str, ...] = ()
    wrapper: tuple[str, ...] = ()

    def argv(self, command: Sequence[str]) -> list[str]:
        """The local argument list that runs ``command`` on this frontend."""
        if self.host is None:
            return [*self.wrapper, *command]
        return [
            *self.wrapper,
            "ssh",
            "-o",
            "BatchMode=yes",
            *self.ssh_options,
            self.host,
            shlex.join(command),
        ]

    def describe(self) -> str:
        """How to name this frontend in messages."""
        return "this machine" if self.host is None else f"frontend {self.host}"

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for a deployment record."""
        return {"host": self.host, "ssh_options": list(self.ssh_options)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Frontend:
        """Inverse of :meth:`to_record`."""
        return cls(host=record.get("host"), ssh_options=tuple(record.get("ssh_options", ())))


@dataclass(frozen=True)
class OarRequest:
    """What to ask ``oarsub`` for.

    ``resources`` is OAR's ``-l`` text (``"nodes=4,walltime=1:00"``, or
    ``"{cluster='x'}/nodes=2"``); ``walltime`` is added to it when given separately.
    ``job_types`` become ``-t`` options (``deploy`` for kexec and Kadeploy flavours);
    ``directory`` is where the job's command runs and OAR writes its output files. ``name``
    (``-n``) identifies the job as this deployment's: by default a new ``nxc-<12 hex>`` each
    time a request is made.
    """

    resources: str
    walltime: str | None = None
    job_types: tuple[str, ...] = ()
    properties: str | None = None
    directory: str | None = None
    name: str = field(default_factory=new_job_name)
    command: str = "sleep infinity"

    def __post_init__(self) -> None:
        if not JOB_NAME.match(self.name):
            raise InputError(
                f"OAR job name {self.name!r} is not one nxc makes; leave it out and nxc names "
                "the job itself"
            )
        if not self.resources.strip() or "\n" in self.resources or "\r" in self.resources:
            raise InputError.naming(
                f"{{oar_request}} {self.resources!r} is not an OAR resource request; "
                "write it like 'nodes=4,walltime=1:00'",
                "oar_request",
            )
        if self.walltime is not None and not WALLTIME.match(self.walltime):
            raise InputError(
                f"walltime {self.walltime!r} is not an OAR duration; write H, H:MM or H:MM:SS"
            )

    def oarsub_argv(self) -> list[str]:
        """The ``oarsub`` argument list for this request."""
        resources = self.resources.strip()
        if self.walltime is not None:
            resources = f"{resources},walltime={self.walltime}"
        argv = ["oarsub", "-l", resources, "-n", self.name]
        for job_type in self.job_types:
            argv += ["-t", job_type]
        if self.properties:
            argv += ["-p", self.properties]
        if self.directory:
            argv += ["-d", self.directory]
        argv.append(self.command)
        return argv


@dataclass(frozen=True)
class OarJob:
    """An OAR job that holds a deployment's hosts.

    ``created_by_nxc`` decides whether ``nxc stop`` deletes it: a job the user reserved
    (``--oar-job``) is theirs to keep. ``name`` and ``owner`` are what OAR said of a job nxc
    reserved, checked again before it is deleted (``None`` in records of older nxc versions).
    """

    job_id: int
    created_by_nxc: bool
    frontend: Frontend = field(default_factory=Frontend)
    name: str | None = None
    owner: str | None = None

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for ``Deployment.resources``."""
        record: dict[str, Any] = {
            "oar_job_id": self.job_id,
            "created_by_nxc": self.created_by_nxc,
            "frontend": self.frontend.to_record(),
        }
        if self.name is not None:
            record["name"] = self.name
        if self.owner is not None:
            record["owner"] = self.owner
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> OarJob:
        """Inverse of :meth:`to_record`."""
        name, owner = record.get("name"), record.get("owner")
        return cls(
            job_id=int(record["oar_job_id"]),
            created_by_nxc=bool(record["created_by_nxc"]),
            frontend=Frontend.from_record(record.get("frontend", {})),
            name=None if name is None else str(name),
            owner=None if owner is None else str(owner),
        )


@dataclass(frozen=True)
class JobInfo:
    """What ``oarstat`` says about a job right now."""

    job_id: int
    state: str
    owner: str
    name: str
    types: tuple[str, ...]
    hosts: tuple[str, ...]
    message: str = ""

    @property
    def ended(self) -> bool:
        """Whether the job finished, was deleted, or failed: its hosts are gone."""
        return self.state in ENDED_STATES


class Oar:
    """OAR commands on one :class:`Frontend`; program names are checked once, up front."""

    def __init__(
        self, frontend: Frontend | None = None, timeout: float = DEFAULT_COMMAND_TIMEOUT
    ) -> None:
        self.frontend = frontend or Frontend()
        self.timeout = timeout
        needed = ("ssh", "openssh-client") if self.frontend.host else ("oarsub", "oar-user")
        find_program(*needed, "to talk to OAR")

    def reserve(self, request: OarRequest) -> OarJob:
        """Submit ``request``; the returned job is marked as created by nxc.

        Its name and owner are read back from OAR at once, for :meth:`release` to check.
        """
        result = self._run(request.oarsub_argv(), "oarsub", check=False)
        match = JOB_ID_LINE.search(result.stdout)
        if result.returncode != 0 or match is None or int(match.group(1)) < 0:
            raise OarJobError(
                f"OAR refused the reservation '{request.resources}' on "
                f"{self.frontend.describe()}: {_last_lines(result)}; check the request with "
                "'oarnodes' or ask for fewer resources"
            )
        job_id = int(match.group(1))
        info = self.job_info(job_id)
        return OarJob(
            job_id, created_by_nxc=True, frontend=self.frontend, name=info.name, owner=info.owner
        )

    def existing_job(self, job_id: int) -> OarJob:
        """A job the user already holds (``--oar-job``); nxc will never delete it."""
        info = self.job_info(job_id)
        if info.ended:
            raise OarJobError(
                f"OAR job {job_id} is already over (state {info.state}); reserve a new one"
            )
        return OarJob(job_id, created_by_nxc=False, frontend=self.frontend)

    def job_info(self, job_id: int) -> JobInfo:
        """The job's state, owner, types and hosts; unknown jobs raise :class:`OarJobError`."""
        result = self._run(["oarstat", "-f", "-j", str(job_id), "-J"], "oarstat")
        try:
            document = json.loads(result.stdout) if result.stdout.strip() else {}
        except json.JSONDecodeError as error:
            raise ExternalCommandError(
                f"oarstat printed something that is not JSON for job {job_id}: {error}"
            ) from None
        entry = document.get(str(job_id))
        if entry is None:
            raise OarJobError(
                f"OAR job {job_id} does not exist on {self.frontend.describe()}; check the "
                "number with 'oarstat -u'"
            )
        return JobInfo(
            job_id=job_id,
            state=str(entry.get("state", "")),
            owner=str(entry.get("owner", "")),
            name=str(entry.get("name") or ""),
            types=tuple(entry.get("types") or ()),
            hosts=tuple(_unique(entry.get("assigned_network_address") or ())),
            message=str(entry.get("message") or ""),
        )

    def job_state(self, job_id: int) -> str:
        """The job's OAR state (``Waiting``, ``Running``, ``Terminated``, ``Error``...)."""
        return self.job_info(job_id).state

    def wait_running(self, job: OarJob, timeout: float, poll_interval: float = 1.0) -> Hosts:
        """Wait until ``job`` runs and return its hosts.

        Raises :class:`OarJobError` if the job ends first or is still pending after
        ``timeout`` seconds (the job is left alone: the caller decides to release it).
        """
        deadline = time.monotonic() + timeout
        while True:
            info = self.job_info(job.job_id)
            if info.state == "Running":
                return Hosts(info.hosts, f"OAR job {job.job_id}", job)
            if info.ended:
                raise OarJobError(_ended_message(info, "before it started"))
            if time.monotonic() >= deadline:
                raise OarJobError(
                    f"OAR job {job.job_id} is still {info.state} after {timeout:.0f} s "
                    f"({info.message}); see 'oarstat -f -j {job.job_id}', wait longer or "
                    "reserve fewer or other resources"
                )
            time.sleep(poll_interval)

    def hosts_of_job(self, job: OarJob) -> Hosts:
        """The hosts of a running job; raises :class:`OarJobError` if it is not running."""
        info = self.job_info(job.job_id)
        if info.state != "Running":
            if info.ended:
                raise OarJobError(_ended_message(info, "so its hosts are gone"))
            raise OarJobError(
                f"OAR job {job.job_id} is {info.state}, not Running yet; wait for it "
                f"('oarstat -s -j {job.job_id}') or pass a running job"
            )
        return Hosts(info.hosts, f"OAR job {job.job_id}", job)

    def ensure_alive(self, job: OarJob) -> None:
        """Raise :class:`OarJobError` if ``job`` has ended or been deleted (mid-deployment)."""
        info = self.job_info(job.job_id)
        if info.ended:
            raise OarJobError(_ended_message(info, "during the deployment"))

    def release(self, job: OarJob) -> bool:
        """Delete ``job`` if nxc created it; return whether a deletion was asked.

        A job already over is not an error: there is nothing left to release.
        """
        if not job.created_by_nxc:
            return False
        info = self.job_info(job.job_id)
        if info.ended:
            return True
        check_is_ours(job, info)
        result = self._run(["oardel", str(job.job_id)], "oardel", check=False)
        if result.returncode != 0 and not self.job_info(job.job_id).ended:
            raise OarJobError(
                f"oardel could not delete OAR job {job.job_id}: {_last_lines(result)}; delete "
                f"it by hand with 'oardel {job.job_id}'"
            )
        return True

    def declared_hosts(self) -> set[str]:
        """Every host OAR knows on this frontend (``oarnodes``), to check machine files."""
        return {str(entry["network_address"]) for entry in self._resources()}

    def host_clusters(self) -> dict[str, str]:
        """The ``cluster`` property of every host OAR knows that has one (``oarnodes``)."""
        return {
            str(entry["network_address"]): str(entry["cluster"])
            for entry in self._resources()
            if entry.get("cluster")
        }

    def _resources(self) -> list[dict[str, Any]]:
        """OAR's resources (``oarnodes -J``) that name a host."""
        result = self._run(["oarnodes", "-J"], "oarnodes")
        try:
            resources = json.loads(result.stdout or "{}")
        except json.JSONDecodeError as error:
            raise ExternalCommandError(
                f"oarnodes printed something that is not JSON: {error}"
            ) from None
        return [
            entry
            for entry in resources.values()
            if isinstance(entry, dict) and entry.get("network_address")
        ]

    def _run(
        self, command: list[str], name: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = self.frontend.argv(command)
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise ExternalCommandError(
                f"{name} did not answer within {self.timeout:.0f} s on "
                f"{self.frontend.describe()}; check that the OAR server is up"
            ) from None
        if check and result.returncode != 0:
            raise ExternalCommandError(
                f"{shlex.join(command)} failed on {self.frontend.describe()} "
                f"(exit {result.returncode}): {_last_lines(result)}"
            )
        return result


def check_is_ours(job: OarJob, info: JobInfo) -> None:
    """Raise :class:`UnsafeRecordError` unless OAR's job ``info`` is the job nxc reserved.

    The recorded name and owner must both still be what OAR reports. A record without them
    (older nxc) must name a job called ``nxc``, owned by the user running this command when
    OAR runs here as that user.
    """
    expected_name = job.name if job.name is not None else NXC_JOB_NAME
    expected_owner = job.owner
    if expected_owner is None and job.frontend.host is None and not job.frontend.wrapper:
        expected_owner = _local_user()
    if job.name is not None and not JOB_NAME.match(job.name):
        problem = f"records the name {job.name!r}, which is not one nxc gives"
    elif info.name != expected_name:
        problem = f"is named {info.name or '(no name)'!r}, not {expected_name!r}"
    elif expected_owner is not None and info.owner != expected_owner:
        problem = f"belongs to {info.owner!r}, not {expected_owner!r}"
    else:
        return
    raise UnsafeRecordError(
        f"OAR job {job.job_id} {problem}: it is not the job this deployment reserved, so nxc "
        f"leaves it; if it is yours, delete it with 'oardel {job.job_id}'"
    )


def _local_user() -> str | None:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return None


def job_id_from_environment(environ: dict[str, str] | None = None) -> int | None:
    """The id of the OAR job nxc runs inside (``OAR_JOB_ID``, set by OAR), if any."""
    value = (os.environ if environ is None else environ).get("OAR_JOB_ID", "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InputError(f"OAR_JOB_ID={value!r} is not a job number; unset it or fix it")
    return int(value)


def _unique(items: Sequence[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(str(item), None)
    return list(seen)


def _last_lines(result: subprocess.CompletedProcess[str], count: int = 3) -> str:
    lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"


def _ended_message(info: JobInfo, when: str) -> str:
    how = "was deleted or failed" if info.state == "Error" else "ended"
    return (
        f"OAR job {info.job_id} {how} {when} (state {info.state}); reserve new hosts and "
        "start again"
    )
