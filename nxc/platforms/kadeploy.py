"""Kadeploy (Grid'5000's disk-image deployment tool): environment file, command line, retries.

nxc's ``g5k-image`` flavour builds an image tarball, describes it to Kadeploy with an
environment file (:class:`KadeployEnvironment`, the YAML format ``kaenv3 -p`` prints), runs
``kadeploy3`` without interaction on the reserved hosts (:func:`kadeploy_argv`), reads which
nodes Kadeploy deployed and which failed (:func:`parse_kadeploy_output`), and deploys the
failed ones again a bounded number of times (:func:`decide_retry`, :func:`deploy_with_retries`),
as execo's ``execo_g5k.kadeploy.deploy`` does.

Output facts (Kadeploy 3): at the end of a run it prints ``The deployment is successful on
nodes`` then one node per line, and ``The deployment failed on nodes`` then one node per line
followed by `` (reason)``; Kadeploy before 3.2 printed ``Nodes correctly deployed on cluster
C`` / ``Nodes not correctly deployed on cluster C`` instead. ``-o FILE`` / ``-n FILE`` write
the same two lists to files, one node per line.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nxc.atomic import write_atomic
from nxc.errors import ExternalCommandError, InputError

KADEPLOY = "kadeploy3"
COMPRESSIONS = {
    ".tar.gz": "gzip",
    ".tgz": "gzip",
    ".tar.bz2": "bzip2",
    ".tbz2": "bzip2",
    ".tar.xz": "xz",
    ".txz": "xz",
    ".tar.zst": "zstd",
    ".tzst": "zstd",
}
_DEPLOYED_HEADER = re.compile(
    r"^(The \w+ is successful on nodes|Nodes correctly deployed on cluster \S+)\s*$"
)
_FAILED_HEADER = re.compile(
    r"^(The \w+ failed on nodes|Nodes not correctly deployed on cluster \S+)\s*$"
)
_NODE_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9.\-]*)(?:\s+\((.*)\))?\s*$")


@dataclass(frozen=True)
class KadeployEnvironment:
    """A Kadeploy environment description for an nxc image.

    ``image_file`` is where Kadeploy reads the tarball: an absolute path on the frontend
    (e.g. in the user's home), ``server:///...`` or an ``http(s)://`` URL. ``kernel`` and
    ``initrd`` are paths inside the image; ``kernel_params`` carries nxc's deployment info
    (``nxc.info=...`` or ``nxc.info_url=...``).
    """

    name: str
    image_file: str
    kernel: str
    initrd: str
    kernel_params: str = ""
    filesystem: str = "ext4"
    partition_type: int = 131
    arch: str = "x86_64"
    author: str = "nxc"
    description: str = "nxc composition image"
    version: int = 1
    postinstalls: tuple[dict[str, str], ...] = field(default_factory=tuple)

    @property
    def compression(self) -> str:
        """Kadeploy's compression name, from the image file's suffix."""
        for suffix, name in COMPRESSIONS.items():
            if self.image_file.endswith(suffix):
                return name
        raise InputError(
            f"Kadeploy image '{self.image_file}' has an unknown suffix; use one of "
            f"{', '.join(COMPRESSIONS)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The description as Kadeploy's YAML keys."""
        description: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "arch": self.arch,
            "description": self.description,
            "author": self.author,
            "visibility": "private",
            "destructive": False,
            "os": "linux",
            "image": {"file": self.image_file, "kind": "tar", "compression": self.compression},
        }
        if self.postinstalls:
            description["postinstalls"] = [dict(item) for item in self.postinstalls]
        description["boot"] = {
            "kernel": self.kernel,
            "initrd": self.initrd,
            "kernel_params": self.kernel_params,
        }
        description["filesystem"] = self.filesystem
        description["partition_type"] = self.partition_type
        description["multipart"] = False
        return description

    def to_yaml(self) -> str:
        """The environment file's text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, explicit_start=True, width=10**6)

    def write(self, path: Path) -> Path:
        """Write the environment file atomically (it is a deployment artefact)."""
        write_atomic(path, self.to_yaml())
        return path


def kadeploy_argv(
    env_file: str,
    hosts: Sequence[str] = (),
    nodes_file: str | None = None,
    ssh_key: str | None = None,
    ok_file: str | None = None,
    ko_file: str | None = None,
    program: str = KADEPLOY,
) -> list[str]:
    """The ``kadeploy3`` command line: deploy ``env_file`` on a nodes file or on ``hosts``.

    Exactly one of ``nodes_file`` (first attempt, e.g. ``$OAR_NODEFILE``) and ``hosts``
    (retries of some nodes, one ``-m`` each) is given. ``ssh_key`` is the public key Kadeploy
    installs for root; ``ok_file``/``ko_file`` receive the deployed and failed node lists.
    """
    if bool(nodes_file) == bool(hosts):
        raise ValueError("give either nodes_file or hosts")
    argv = [program, "-a", env_file]
    if nodes_file:
        argv += ["-f", nodes_file]
    for host in hosts:
        argv += ["-m", host]
    if ssh_key:
        argv += ["-k", ssh_key]
    if ok_file:
        argv += ["-o", ok_file]
    if ko_file:
        argv += ["-n", ko_file]
    return argv


@dataclass(frozen=True)
class KadeployReport:
    """What one ``kadeploy3`` run reported: deployed nodes, failed nodes with reasons."""

    deployed: tuple[str, ...]
    failed: dict[str, str]

    @property
    def mentioned(self) -> set[str]:
        """Every node the run reported on."""
        return set(self.deployed) | set(self.failed)


def parse_kadeploy_output(stdout: str) -> KadeployReport:
    """Read the deployed / failed node lists at the end of ``kadeploy3``'s output."""
    deployed: list[str] = []
    failed: dict[str, str] = {}
    section: str | None = None
    for raw in stdout.splitlines():
        line = raw.strip()
        if _DEPLOYED_HEADER.match(line):
            section = "deployed"
            continue
        if _FAILED_HEADER.match(line):
            section = "failed"
            continue
        match = _NODE_LINE.match(line) if section else None
        if match is None:
            section = None if line else section
            continue
        node, reason = match.group(1), match.group(2)
        if section == "deployed" and reason is None:
            deployed.append(node)
        elif section == "failed":
            failed[node] = reason or "no reason given"
    return KadeployReport(tuple(dict.fromkeys(deployed)), failed)


def parse_node_lists(ok_text: str, ko_text: str) -> KadeployReport:
    """A report from the ``-o`` / ``-n`` files (one node per line, no reasons)."""
    deployed = [line.strip() for line in ok_text.splitlines() if line.strip()]
    failed = {line.strip(): "listed in the failed nodes file" for line in ko_text.splitlines()}
    failed.pop("", None)
    return KadeployReport(tuple(deployed), failed)


@dataclass(frozen=True)
class RetryDecision:
    """After one attempt: nodes deployed so far, nodes to deploy again, nodes given up."""

    deployed: tuple[str, ...]
    retry: tuple[str, ...]
    given_up: dict[str, str]

    @property
    def done(self) -> bool:
        """Whether no further attempt is needed."""
        return not self.retry


def decide_retry(
    attempted: Sequence[str],
    report: KadeployReport,
    attempt: int,
    max_attempts: int,
    deployed_before: Sequence[str] = (),
) -> RetryDecision:
    """Which of ``attempted`` nodes to deploy again after attempt number ``attempt`` (1-based).

    Nodes Kadeploy reported as failed, and nodes it did not report on at all (it was
    interrupted), are retried while attempts are left, then given up with their last reason.
    """
    deployed = list(dict.fromkeys([*deployed_before, *report.deployed]))
    missing: dict[str, str] = {}
    for host in attempted:
        if host in report.deployed:
            continue
        missing[host] = report.failed.get(host, "kadeploy3 did not report on this node")
    if attempt >= max_attempts:
        return RetryDecision(tuple(deployed), (), missing)
    return RetryDecision(tuple(deployed), tuple(missing), {})


@dataclass(frozen=True)
class KadeployRun:
    """The result of running ``kadeploy3`` once."""

    returncode: int
    stdout: str
    stderr: str = ""


def deploy_with_retries(
    run: Callable[[list[str]], KadeployRun], hosts: Sequence[str], max_attempts: int = 3
) -> RetryDecision:
    """Deploy ``hosts`` with ``run`` (one ``kadeploy3`` call per attempt), retrying failures.

    ``run`` gets the hosts of this attempt. A run that reports on no node and fails is an
    error of the whole deployment (bad environment file, no rights, no deploy job): it is not
    retried and raises :class:`ExternalCommandError` with Kadeploy's last lines.
    """
    if max_attempts < 1:
        raise InputError(f"Kadeploy attempts must be at least 1, not {max_attempts}")
    todo = list(hosts)
    deployed: tuple[str, ...] = ()
    decision = RetryDecision((), tuple(todo), {})
    for attempt in range(1, max_attempts + 1):
        result = run(todo)
        report = parse_kadeploy_output(result.stdout)
        if not report.mentioned and result.returncode != 0:
            lines = [line for line in (result.stderr or result.stdout).splitlines() if line]
            raise ExternalCommandError(
                f"kadeploy3 failed before deploying any node (exit {result.returncode}): "
                f"{' / '.join(lines[-3:]) or 'no output'}; check the environment file and "
                "that the OAR job is of type deploy"
            )
        decision = decide_retry(todo, report, attempt, max_attempts, deployed)
        deployed = decision.deployed
        if decision.done:
            break
        todo = list(decision.retry)
    return decision


def run_kadeploy(
    argv: list[str], timeout: float, wrap: Callable[[list[str]], list[str]]
) -> KadeployRun:
    """Run one ``kadeploy3`` command (``wrap`` adds the frontend, e.g. ``Frontend.argv``)."""
    try:
        result = subprocess.run(
            wrap(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ExternalCommandError(
            f"kadeploy3 did not finish within {timeout:.0f} s; check 'kastat3' on the frontend"
        ) from None
    return KadeployRun(result.returncode, result.stdout, result.stderr)
