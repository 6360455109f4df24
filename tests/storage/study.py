"""The storage study on this machine: GlusterFS and CephFS side by side through ``nxc bench``.

Each file system is formed by its composition's own node script (``gluster-node.sh``,
``ceph-node.py``) on namespace nodes (:mod:`tests.storage.nodes`), whose sshd runs inside the
node's namespaces and so sees the FUSE mount at ``/mnt/fs``. The nodes are recorded as a
deployment of one project (``glusterfs::vm::study``, ``cephfs::vm::study``), the
record nxc's flavours write, with the deployment's own client key authorised and the nodes'
host keys pinned. Then the real CLI runs ``nxc bench fio`` on each deployment's clients (every
point also on the clients' local disk, the upper bound) and ``nxc bench compare`` on the
results. Used by tests/storage/test_study.py and benchmarks/storage_study.py.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState
from nxc.keys import ensure_client_key
from tests.storage.conftest import COMPOSITIONS
from tests.storage.nodes import StorageNode, started_nodes

GLUSTER_SCRIPT = COMPOSITIONS / "glusterfs" / "gluster-node.sh"
CEPH_SCRIPT = COMPOSITIONS / "cephfs" / "ceph-node.py"
CEPH_ENV = {"CEPH_TIMEOUT": "150", "CEPH_DEVICE": "none", "CEPH_OSD_FILE_SIZE": "4G"}
FLAVOUR = "vm"  # a known flavour, as tests/recorded.py records (nxc refuses others)
TAG = "study"
GLUSTER_ROLES = [("server", 3), ("client", 2)]
CEPH_ROLES = [("mon", 1), ("osd", 3), ("mds", 1), ("client", 2)]
MOUNT = "/mnt/fs"


def _wait_all(running: list[tuple[StorageNode, subprocess.Popen[str]]], timeout: float) -> None:
    for node, process in running:
        out, err = process.communicate(timeout=timeout)
        if process.returncode != 0:
            raise AssertionError(f"{node.hostname} exited {process.returncode}: {out}\n{err}")


def form_glusterfs(nodes: list[StorageNode], env: dict[str, str]) -> None:
    """Start glusterd on the servers, run every server's part at once (the first forms the
    volume), then mount it on every client; raise with a node's output if one fails."""
    servers = [n for n in nodes if n.role == "server"]
    for server in servers:
        server.succeed("glusterd --pid-file=/run/glusterd.pid")
    command = f"sh {GLUSTER_SCRIPT} server"
    _wait_all([(s, s.popen(command, env, stdout=-1, stderr=-1, text=True)) for s in servers], 180)
    for client in (n for n in nodes if n.role == "client"):
        client.succeed(f"sh {GLUSTER_SCRIPT} client", env, timeout=180)


def form_cephfs(nodes: list[StorageNode], extra: dict[str, dict[str, str]] | None = None) -> None:
    """Run every node's part of ``ceph-node.py`` at once, as at boot (``extra``: more
    environment per hostname), and wait for all of them to succeed."""
    running = [
        (node, node.popen(f"python3 {CEPH_SCRIPT} {node.role}",
                          {**CEPH_ENV, **(extra or {}).get(node.hostname, {})},
                          stdout=-1, stderr=-1, text=True))
        for node in nodes
    ]  # fmt: skip
    _wait_all(running, 200)


def record_deployment(project: Path, composition: str, nodes: list[StorageNode]) -> str:
    """Record ``nodes`` as the running deployment ``<composition>::vm::study`` of
    ``project`` and authorise its client key on them; returns the deployment's name."""
    store = DeploymentStore(project / "deploy")
    deployment = Deployment(composition, FLAVOUR, TAG, [], state=DeploymentState.running)
    public = ensure_client_key(store.client_key_path(deployment.name), f"nxc:{deployment.name}")
    for node in nodes:
        with open(node.host.folder / "authorized_keys", "a") as keys:
            keys.write(public.strip() + "\n")
    deployment.nodes = [
        Node(n.hostname, n.role, n.address, n.address, host_key=n.host.host_key,
             state=NodeState.ready)
        for n in nodes
    ]  # fmt: skip
    store.save(deployment)
    return deployment.name


@dataclass(frozen=True)
class Sweep:
    """What ``nxc bench fio`` sweeps on each file system (its options' values)."""

    sizes: str = "64k,1M"
    clients: str = "1,2"
    jobs: str = "1"
    modes: str = "fpp"
    size: str = "4M"
    repeat: int = 2

    def options(self) -> list[str]:
        return ["--sizes", self.sizes, "--clients", self.clients, "--jobs", self.jobs,
                "--modes", self.modes, "--size", self.size, "--repeat", str(self.repeat)]  # fmt: skip


def nxc(
    project: Path, *args: str, timeout: float = 1800, echo: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real CLI in ``project``; raise with its stderr if it fails. ``echo``: its stderr
    (the points as they complete) goes to this process's stderr instead of being kept."""
    argv = [sys.executable, "-m", "nxc", "-d", str(project), *args]
    stderr = None if echo else subprocess.PIPE
    done = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr or ''}")
    return done


@contextmanager
def file_systems(workdir: Path, project: Path) -> Iterator[dict[str, str]]:
    """GlusterFS (replica 3 over 3 servers, 2 clients) and CephFS (1 monitor, 3 OSDs, 1 MDS,
    2 clients) formed and mounted on their clients, recorded in ``project``; yields label ->
    deployment name. Every node is stopped on exit."""
    if not (project / "flake.nix").exists():  # nxc needs a project; none is built here
        (project / "flake.nix").write_text("{ outputs = _: { }; }\n")
    with ExitStack() as stack:
        clusters = {}
        for label, roles in (("glusterfs", GLUSTER_ROLES), ("cephfs", CEPH_ROLES)):
            # nxc's own key goes in at record time; the start-up key authorises nothing else
            nodes = stack.enter_context(started_nodes(workdir / label, roles, "# none"))
            clusters[label] = nodes
        gluster_env = {"GLUSTER_VOLUME": "replica:3", "NXC_STORAGE_DEVICE": "none"}
        form_glusterfs(clusters["glusterfs"], {**gluster_env, "GLUSTER_TIMEOUT": "120"})
        form_cephfs(clusters["cephfs"])
        yield {label: record_deployment(project, label, n) for label, n in clusters.items()}


def run_study(
    project: Path,
    deployments: dict[str, str],
    local_dir: Path,
    sweep: Sweep,
    stem: str,
    echo: bool = False,
) -> tuple[list[Path], Path]:
    """``nxc bench fio`` on each deployment's clients (``--output`` = its label, the local
    baseline under ``local_dir``), then ``nxc bench compare`` of them all as ``stem``;
    returns the result files and the comparison report. ``echo``: as :func:`nxc`'s."""
    bench = project / "artifact" / "bench"
    results = []
    for label, name in deployments.items():
        nxc(project, "bench", "fio", "--name", name, "--dir", f"{MOUNT}/{{host}}",
            "--local-dir", f"{local_dir}/{label}/{{host}}", "--label", label,
            "--output", label, *sweep.options(), echo=echo)  # fmt: skip
        results.append(bench / f"{label}.json")
    nxc(project, "bench", "compare", *map(str, results), "--output", stem)
    return results, bench / f"{stem}.md"


def table(report: Path) -> str:
    """The Markdown table of a comparison report (header, rule and rows)."""
    lines = report.read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith("|"))
