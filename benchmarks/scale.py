"""Scale benchmark (issue 15): what nxc costs the frontend as deployments grow, in one run.

Everything runs on namespace hosts of :mod:`tests.netns` (network namespaces running real
OpenSSH ``sshd``) on this machine, so it needs root, ``iproute2``, ``util-linux``,
``openssh-server``, ``taktuk`` and ``perl`` (the tree), ``netcat-traditional`` (execo's
ChainPut runs ``/bin/nc.traditional``; without it that row says so and is left out) and execo.

1. **Broadcast** — one artefact of ``--size`` MiB (random bytes) to each count of ``--hosts``
   (:class:`tests.scale.lab.BroadcastLab`, each host with its own ``/tmp``), three ways, every
   host's copy emptied before each:

   * ``parallel copy`` — :func:`nxc.flavours.g5k.kexec.push_artefacts` on every host, at most
     :data:`nxc.limits.DEFAULT_CONCURRENCY` at once through :func:`nxc.fanout.run_bounded`
     (what nxc's direct copies do), each host checking what it received;
   * ``TakTuk tree`` — :func:`nxc.platforms.broadcast.broadcast_files` (relays reached
     through the forwarded agent, receipt checked on every host);
   * ``execo ChainPut`` — ``execo.action.ChainPut``: TakTuk starts a netcat chain, frontend →
     host 1 → host 2 → ..., unencrypted and unauthenticated; the copies are checked here
     afterwards (SHA-256 of every host's file, not timed). Its destination folder is created
     through this machine's view of each host's ``/tmp`` inside the timed call. TakTuk's work
     stealing makes hosts connect to hosts, so its SSH gets ``-A`` and the agent
     ``broadcast_files`` starts; three defects of execo 2.8.2 on Python 3 are mended in this
     process first (:func:`_mend_execo`).

   Columns (the table of ``benchmarks/broadcast.py``): ``time`` wall seconds; ``sent/size``
   bytes this machine transmitted into the hosts' bridge (its ``tx_bytes`` counter) divided by
   the artefact size; ``cpu`` user + system seconds of this process and its waited-for children
   (ssh, taktuk, ssh-agent, nc); ``time ratio`` and ``sent ratio`` against the parallel copy at
   the same host count.

2. **Run** — ``true`` on the first N of ``--run-hosts`` hosts through
   :class:`nxc.transport.ssh.SshTransport` (the transport the driver's ``succeed`` and
   ``nxc run`` use; it takes the hosts as endpoints, no deployment record needed): the first
   call (connections included, at most ``DEFAULT_CONCURRENCY`` opened at once) and
   ``--repeat`` calls on the open connections. Columns: ``first ms/host`` and ``repeat
   ms/host`` (a call's wall time divided by N), the calls' seconds, ``RSS MiB`` this process's
   resident memory with the N connections open and ``+MiB`` what they added, ``host MiB/host``
   the resident memory of one host's processes (its sshd, the connection's sshd processes;
   shared pages counted in each, so an upper bound). A /24 bridge holds 250 hosts, so larger
   counts use several bridges.

   Not 1,000 hosts by default: every host here is a network namespace with two or three
   sshd processes on this one machine (2 cores, 24 GiB, shared), 11-19 MiB resident per
   connected host as measured (``host MiB/host``), and all the key exchanges run on the same 2
   cores; ``--run-hosts 64 1000 --settle 60`` runs it here in about 5 minutes (``--settle``:
   seconds between the hosts up and the first call, for the start-up traffic of a thousand
   new interfaces on this kernel's bridges to calm down). On Grid'5000 the hosts' side is on the hosts: only this process's share (``RSS MiB``,
   the ms per host) is the frontend's.

3. **Info server** — ``benchmarks/infoserver_load.py`` as a child process, ``--info-clients``
   concurrent fetches of a 1,000 nodes' info (3 bursts): p50 and p99 latency, failed fetches.

The broadcast table is printed last; its last line is the figure tracked (tree figures):
``scale: 128 hosts, frontend sent X.XX\N{MULTIPLICATION SIGN} the artefact in T s (8 hosts: t s)``.

    sudo .venv/bin/python benchmarks/scale.py    # 8 32 128 hosts, 64 MiB; run 64 256 (~9 min)
    sudo .venv/bin/python benchmarks/scale.py --hosts 8 32 --size 16 --run-hosts 16 64  # ~1 min
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.broadcast import PARALLEL, TREE, Run, measure, print_table
from benchmarks.fanout import time_calls
from nxc import limits
from nxc.fanout import HostResult, run_bounded
from nxc.flavours.g5k import kexec
from nxc.keys import ensure_client_key
from nxc.platforms.broadcast import _forwarded_agent, broadcast_files
from nxc.transport.ssh import SshTransport
from tests.netns import MAX_HOSTS, NamespaceHost, NamespaceHosts
from tests.scale.lab import BroadcastLab

CHAIN = "execo ChainPut"
NETCAT = "/bin/nc.traditional"
INFO_SCRIPT = Path(__file__).with_name("infoserver_load.py")
INFO_LINE = re.compile(
    r"info server: (?P<clients>\d+) concurrent fetches, p50 (?P<p50>\d+) ms, "
    r"p99 (?P<p99>\d+) ms, (?P<failed>\d+) failed"
)


# --- 1. broadcast ---------------------------------------------------------------------------


class _TextWrites:
    """``os`` for ``execo.action``, whose ChainPut and TaktukRemote hand ``str`` to ``os.write``."""

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    @staticmethod
    def write(fd: int, data: bytes | str) -> int:
        return os.write(fd, data.encode() if isinstance(data, str) else data)


class _TextPassing:
    """``execo.process._decode`` that returns text it is given as it is."""

    mended = True

    def __init__(self, decode: Callable[[bytes], str]) -> None:
        self.decode = decode

    def __call__(self, data: bytes | str) -> str:
        return data if isinstance(data, str) else self.decode(data)


def _mend_execo() -> None:
    """Work around three defects of execo 2.8.2 that stop its ChainPut on Python 3.

    ``execo.action`` writes ``str`` with ``os.write`` (a TypeError); its TakTuk output handler
    hands ``str`` lines to ``execo.process``, which decodes them as bytes (a TypeError); and
    ``TaktukProcess`` calls the lifecycle-handler triggers only ``execo.process.Process``
    defines, so TakTuk actions never report their end and a ChainPut waits for ever.
    """
    import execo.action
    import execo.process

    execo.action.os = _TextWrites()
    decode = execo.process._decode
    if not getattr(decode, "mended", False):
        execo.process._decode = _TextPassing(decode)
    taktuk_process, process = execo.process.TaktukProcess, execo.process.Process
    for name in ("_trigger_start_handlers", "_trigger_end_handlers"):
        if not hasattr(taktuk_process, name):
            setattr(taktuk_process, name, getattr(process, name))


def chain_put(lab: BroadcastLab, count: int, artefact: Path) -> None:
    """execo's ChainPut of ``artefact`` into every host's ``REMOTE_DIR``; raises on failure."""
    import execo

    execo.logger.setLevel(logging.ERROR)
    _mend_execo()
    for host in lab.hosts[:count]:
        lab.remote_dir(host).mkdir(mode=0o700, parents=True, exist_ok=True)
    # TakTuk's work stealing makes hosts connect to hosts: they authenticate with the
    # frontend's key through a forwarded agent, as broadcast_files's relays do
    pinned = ("-o", "BatchMode=yes", *lab.relay_options, "-o", "ConnectTimeout=20")
    params = {"user": "root", "keyfile": str(lab.key), "taktuk_connector_options": ("-A", *pinned),
              "ssh_options": pinned, "nc": f"{NETCAT} -v -v"}  # fmt: skip
    hosts = [execo.Host(address) for address in lab.addresses[:count]]
    with _forwarded_agent(lab.shell()) as agent_env:
        saved = os.environ.get("SSH_AUTH_SOCK")
        os.environ.update(agent_env)
        try:
            put = execo.action.ChainPut(hosts, [str(artefact)], kexec.REMOTE_DIR, params).run()
        finally:
            os.environ.pop("SSH_AUTH_SOCK", None)
            if saved is not None:
                os.environ["SSH_AUTH_SOCK"] = saved
    if not put.ok:
        failed = [p for action in put.actions for p in action.processes if not p.ok]
        reasons = "; ".join(
            f"{p.host}: {p.error_reason or p.stderr.strip()[-200:]}" for p in failed[:3]
        )
        raise RuntimeError(f"ChainPut to {count} hosts failed on {len(failed)}: {reasons}")


def check_chain_copies(lab: BroadcastLab, count: int, artefact: Path, digest: str) -> None:
    """Every host's ChainPut copy has the artefact's SHA-256 (read through this machine)."""
    for host in lab.hosts[:count]:
        copy = lab.remote_dir(host) / artefact.name
        with open(copy, "rb") as handle:
            if hashlib.file_digest(handle, "sha256").hexdigest() != digest:
                raise RuntimeError(f"ChainPut's copy on {host.hostname} differs")


def broadcasts(
    lab: BroadcastLab, counts: list[int], artefact: Path, size: int, chain: bool
) -> list[Run]:
    """The three methods at every host count, in that order, each on emptied hosts."""
    digest = kexec.sha256_of(artefact)
    files = {digest: artefact}
    shell = lab.shell()
    limits.ensure_open_files(limits.DEFAULT_CONCURRENCY)
    runs = []
    for count in counts:
        addresses = lab.addresses[:count]

        def parallel(addresses: list[str] = addresses) -> None:
            def push(host: str) -> HostResult:
                kexec.push_artefacts(shell, host, files)
                return HostResult(host, exit_status=0)

            run_bounded(addresses, push, limits.DEFAULT_CONCURRENCY).check()

        def tree(addresses: list[str] = addresses) -> None:
            result = broadcast_files(
                shell, addresses, files, relay_options=lab.relay_options, tree_min_hosts=1
            )
            if not result.ok or result.notes:
                raise RuntimeError(result.summary())

        runs.append(measure(lab, PARALLEL, count, size, parallel))
        runs.append(measure(lab, TREE, count, size, tree))
        if chain:
            runs.append(measure(lab, CHAIN, count, size, lambda c=count: chain_put(lab, c, artefact)))  # fmt: skip
            check_chain_copies(lab, count, artefact, digest)
    return runs


# --- 2. run ---------------------------------------------------------------------------------


@dataclass
class RunCost:
    hosts: int
    first: float
    repeated: list[float]
    rss_mib: float
    rss_added_mib: float
    host_mib: float
    """Resident memory of each host's processes (its sshd and the connection's), mean."""


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process (this one by default) now, in MiB; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0  # a kernel thread or a zombie


def run_costs(counts: list[int], repeat: int, workdir: Path, settle: float = 0.0) -> list[RunCost]:
    """``true`` through the SSH transport on the first N hosts, for each N of ``counts``,
    ``settle`` seconds after every host listens (the start-up traffic of hundreds of new
    interfaces on this machine's bridges calms down first)."""
    key = workdir / "id_ed25519"
    public = ensure_client_key(key, "nxc:scale")
    groups: list[NamespaceHosts] = []
    try:
        hosts: list[NamespaceHost] = []
        left = max(counts)
        while left > 0:  # one bridge (a /24) per MAX_HOSTS hosts
            group = NamespaceHosts(min(left, MAX_HOSTS), workdir / f"bridge{len(groups)}", public)
            groups.append(group)
            hosts += group.up()
            left -= group.count
        time.sleep(settle)
        costs = []
        for count in counts:
            rss_before = rss_mib()
            transport = SshTransport(hosts[:count], key)
            try:
                first, repeated = time_calls(lambda t=transport: t.run("true").check(), repeat)
                rss = rss_mib()
                host_mib = sum(rss_mib(pid) for h in hosts[:count] for pid in h.pids()) / count
            finally:
                transport.close()
            costs.append(RunCost(count, first, repeated, rss, rss - rss_before, host_mib))
        return costs
    finally:
        for group in groups:
            group.down()


def print_run_table(costs: list[RunCost]) -> None:
    header = (
        f"{'hosts':>5} {'first ms/host':>14} {'repeat ms/host':>15} {'first s':>8} "
        f"{'repeat s':>9} {'RSS MiB':>8} {'+MiB':>7} {'host MiB/host':>14}"
    )
    print("'true' on every host through nxc's SSH transport (first call opens the connections)")
    print(header)
    print("-" * len(header))
    for cost in costs:
        mean = sum(cost.repeated) / len(cost.repeated)
        print(
            f"{cost.hosts:>5} {cost.first / cost.hosts * 1000:>14.2f} "
            f"{mean / cost.hosts * 1000:>15.2f} {cost.first:>8.2f} {mean:>9.3f} "
            f"{cost.rss_mib:>8.1f} {cost.rss_added_mib:>7.1f} {cost.host_mib:>14.1f}"
        )
    print(f"repeat: mean of {len(costs[0].repeated)} calls; RSS with the connections open")


# --- 3. info server -------------------------------------------------------------------------


def info_server(clients: int) -> dict[str, int]:
    """p50/p99 (ms) and failures of ``clients`` concurrent info fetches, from its benchmark."""
    answer = subprocess.run(
        [sys.executable, str(INFO_SCRIPT), "--nodes", "1000", "--clients", str(clients)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    lines = answer.stdout.strip().splitlines()
    found = INFO_LINE.fullmatch(lines[-1].split(" (mean")[0]) if lines else None
    if found is None:
        raise RuntimeError(f"unexpected output of {INFO_SCRIPT.name}: {answer.stdout!r}")
    return {name: int(value) for name, value in found.groupdict().items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--size", type=int, default=64, help="artefact size in MiB")
    parser.add_argument("--run-hosts", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeat", type=int, default=5, help="repeated 'true' calls")
    parser.add_argument("--info-clients", type=int, default=1000)
    parser.add_argument(
        "--settle", type=float, default=0.0, help="seconds between the hosts up and the first run"
    )
    args = parser.parse_args()
    counts = sorted(args.hosts)
    if max(counts) > MAX_HOSTS:
        parser.error(f"--hosts: at most {MAX_HOSTS} (one bridge)")
    chain = Path(NETCAT).exists()
    size = args.size << 20
    with tempfile.TemporaryDirectory(prefix="nxc-scale-bench-") as folder:
        artefact = Path(folder) / "artefact"
        artefact.write_bytes(os.urandom(size))
        with BroadcastLab(max(counts), Path(folder)) as lab:
            runs = broadcasts(lab, counts, artefact, size, chain)
        shutil.rmtree(Path(folder) / "tmp", ignore_errors=True)
        costs = run_costs(sorted(args.run_hosts), args.repeat, Path(folder) / "run", args.settle)
    info = info_server(args.info_clients)

    print_run_table(costs)
    print()
    print(
        f"info server (1,000 nodes' info): {info['clients']} concurrent fetches, "
        f"p50 {info['p50']} ms, p99 {info['p99']} ms, {info['failed']} failed"
    )
    print()
    if not chain:
        print(f"{CHAIN}: left out, {NETCAT} not found (Debian package netcat-traditional)")
    print_table(runs, args.size)


if __name__ == "__main__":
    main()
