"""Files to many hosts with this machine sending each about once: a TakTuk tree broadcast.

:func:`broadcast_files` puts content-addressed files (SHA-256 digest → local path, as
:func:`nxc.flavours.g5k.kexec.push_artefacts` takes them) in a private folder of every host. It runs
one ``taktuk`` (Debian package ``taktuk``, what Kadeploy uses) over all hosts:

* TakTuk deploys itself over SSH as a tree whose nodes have at most ``arity`` children
  (``taktuk -d ARITY``, work stealing), so this machine talks to ``arity`` hosts and each host
  forwards what it receives to its own children: the frontend sends each file ``arity`` times
  whatever the number of hosts. ``-s`` propagates TakTuk itself (the hosts need ``perl``).
* This machine reaches the first hosts with the caller's :class:`~nxc.flavours.g5k.kexec.HostShell`
  (its OpenSSH options, user). Hosts reach each other with ``relay_options``, authenticating
  with the keys of this machine through agent forwarding (``ssh -A``): nxc starts its own
  ``ssh-agent`` holding the identity files the shell names (``-i``), or uses the caller's
  agent; no private key is copied to the hosts. The relays check host keys as the hosts' own
  SSH set-up says (on Grid'5000, the site-wide known hosts) unless ``relay_options`` says
  otherwise.
* On every host the file arrives on the standard input of the very shell code the parallel
  copy uses (:func:`nxc.flavours.g5k.kexec._receive`): a folder of the remote user's own (0700,
  refused if a link or another user's), a fresh ``mktemp`` name, the SHA-256 checked before
  the file takes its digest as name, never following a link planted at either name.

Every host the tree leaves without a verdict (another host could not connect to it, as when
hosts cannot reach each other; TakTuk could not start there, e.g. no ``perl``; the run hit its
time limit) is pushed directly from this machine with the parallel copy
(:func:`nxc.flavours.g5k.kexec.push_artefacts`), at most ``concurrency`` at once; a host whose
receiving code ran and refused (folder not private, copy altered) keeps that failure. The
result says which way each host went and why (:attr:`BroadcastResult.notes`). Below
``tree_min_hosts`` hosts, without ``taktuk`` on this machine or without a key to forward,
every host gets the parallel copy and the notes say so. TakTuk is killed, with every process it
started here, at ``timeout``; each of its connections has ``connect_timeout`` to start; each
direct copy is bounded by :data:`~nxc.flavours.g5k.kexec.PUSH_TIMEOUT`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from nxc.errors import InputError, NxcError
from nxc.fanout import GroupResult, HostResult, run_bounded
from nxc.flavours.g5k.kexec import (
    _DIGEST_RE,
    PUSH_TIMEOUT,
    REMOTE_DIR,
    HostShell,
    _receive,
    push_artefacts,
)
from nxc.limits import DEFAULT_CONCURRENCY, check_concurrency, ensure_open_files
from nxc.programs import find_program, optional_program

DEFAULT_ARITY = 2
"""Children per tree node: the frontend sends each file this many times."""

TREE_MIN_HOSTS = 8
"""Fewer hosts than this get the parallel copy (a tree costs a TakTuk deployment first)."""

DEFAULT_RELAY_OPTIONS = ("-o", "StrictHostKeyChecking=yes")
"""OpenSSH options for host-to-host connections (host keys from the hosts' own files)."""

CONNECT_TIMEOUT = 20.0
AGENT_START_TIMEOUT = 5.0

TREE = "tree"
DIRECT = "direct"

# TakTuk "state" stream codes (taktuk(1), -o state)
CONNECTION_FAILED = 3
CONNECTION_INITIALIZED = 4

_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+-]+")
_DONE = "nxc-received"
_DELIMITERS = "@^~#"


@dataclass
class BroadcastResult:
    """Per-host outcome of a broadcast, which way each host was served, and why.

    ``routes`` maps each host to :data:`TREE` (received through TakTuk) or :data:`DIRECT`
    (pushed from this machine by the parallel copy); ``notes`` are one-line explanations
    (fallbacks, hosts that could not reach each other) for the caller to show.
    """

    results: GroupResult
    routes: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every host holds every file, checked."""
        return self.results.ok

    @property
    def failed(self) -> dict[str, str]:
        """Host → why it does not hold the files."""
        return {result.host: result.describe_failure() for result in self.results.failed}

    def summary(self) -> str:
        """One line: hosts served by each way, failures, and the notes."""
        tree = sum(1 for route in self.routes.values() if route == TREE)
        parts = [f"{tree} host(s) through the tree, {len(self.routes) - tree} directly"]
        if not self.ok:
            parts.append(self.results.summary())
        return "; ".join(parts + self.notes)


def broadcast_files(
    shell: HostShell,
    hosts: Sequence[str],
    files: dict[str, Path],
    *,
    remote_dir: str = REMOTE_DIR,
    relay_options: Sequence[str] = DEFAULT_RELAY_OPTIONS,
    arity: int = DEFAULT_ARITY,
    tree_min_hosts: int = TREE_MIN_HOSTS,
    concurrency: int = DEFAULT_CONCURRENCY,
    timeout: float = PUSH_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> BroadcastResult:
    """Put ``files`` (SHA-256 digest → local path) in ``remote_dir`` of every host.

    Never raises for one host's failure: each host's result says whether it holds every file
    (checked on the host) or why not. :class:`InputError` for unusable arguments (a digest
    that is not SHA-256 hex, a missing file, the same host twice, arity or limits below 1).
    """
    _check_arguments(hosts, files, arity, concurrency)
    hosts = list(hosts)
    notes: list[str] = []
    tree_hosts: list[str] = []
    taktuk = optional_program("taktuk")
    if len(hosts) < tree_min_hosts:
        notes.append(f"parallel copy: fewer than {tree_min_hosts} hosts")
    elif taktuk is None:
        notes.append(
            "parallel copy: 'taktuk' was not found on PATH (install the Debian package "
            "'taktuk' for a tree broadcast)"
        )
    else:
        tree_hosts = hosts
    results: dict[str, HostResult] = {}
    direct = [host for host in hosts if host not in tree_hosts]
    if tree_hosts and taktuk is not None:
        tree = _TreeOutcome({}, [], [], {}, relayed=False)
        try:
            with _forwarded_agent(shell) as agent_env:
                tree = _run_tree(
                    taktuk, shell, tree_hosts, files, remote_dir, relay_options, arity,
                    timeout, connect_timeout, agent_env,
                )  # fmt: skip
        except NxcError as error:
            notes.append(f"parallel copy: no tree broadcast ({error})")
            direct = hosts
        else:
            results.update(tree.done)
            direct += tree.retry_directly
    routes = {host: TREE for host in results}
    if direct:
        ensure_open_files(concurrency)
        pushed = run_bounded(
            direct, lambda host: _push_one(shell, host, files, remote_dir), concurrency
        )
        results.update(pushed.results)
        routes.update(dict.fromkeys(direct, DIRECT))
        if tree_hosts:
            notes += _relay_notes(tree, results, shell.user)
    ordered = GroupResult({host: results[host] for host in hosts})
    return BroadcastResult(ordered, {host: routes[host] for host in hosts}, notes)


def _check_arguments(
    hosts: Sequence[str], files: dict[str, Path], arity: int, concurrency: int
) -> None:
    bad = [digest for digest in files if not _DIGEST_RE.fullmatch(digest)]
    if bad:
        raise InputError(f"not SHA-256 hex digests: {', '.join(bad)}; name files by sha256_of")
    missing = [str(path) for path in files.values() if not Path(path).is_file()]
    if missing:
        raise InputError(f"cannot broadcast {', '.join(missing)}: not a file")
    twice = sorted({host for host in hosts if list(hosts).count(host) > 1})
    if twice:
        raise InputError(f"hosts given more than once: {', '.join(twice)}; give each once")
    if arity < 1:
        raise InputError(f"a tree arity of {arity} is not usable; give 1 or more")
    check_concurrency(concurrency)


def _push_one(shell: HostShell, host: str, files: dict[str, Path], remote_dir: str) -> HostResult:
    """The parallel-copy path for one host (each copy bounded by ``PUSH_TIMEOUT``), as a result."""
    start = time.monotonic()
    push_artefacts(shell, host, files, remote_dir)
    return HostResult(host, exit_status=0, duration=time.monotonic() - start)


# --- the agent the hosts authenticate with ------------------------------------------------


def identity_files(options: Sequence[str]) -> list[str]:
    """The identity files named in OpenSSH ``options`` (``-i F``, ``-o IdentityFile=F``)."""
    found = []
    words = list(options)
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word == "-i" and following:
            found.append(following)
        elif word.startswith("-i") and len(word) > 2:
            found.append(word[2:])
        value = following if word == "-o" else word[2:] if word.startswith("-o") else ""
        key, _, path = value.partition("=")
        if key.strip().lower() == "identityfile" and path.strip():
            found.append(path.strip())
    return found


@contextmanager
def _forwarded_agent(shell: HostShell) -> Iterator[dict[str, str]]:
    """Environment variables pointing TakTuk's SSH at an agent holding the shell's keys.

    The shell's identity files go into an ``ssh-agent`` of nxc's own (stopped on exit); with
    none, the caller's agent (``SSH_AUTH_SOCK``) is used. :class:`NxcError` when neither can
    be had (the caller then copies directly).
    """
    keys = identity_files(shell.options)
    if not keys:
        if os.environ.get("SSH_AUTH_SOCK"):
            yield {}
            return
        raise NxcError(
            "no key to forward to the hosts: name one with -i in the SSH options or run an "
            "ssh-agent holding it"
        )
    purpose = "to forward the key to the hosts"
    agent_program = find_program("ssh-agent", "openssh-client", purpose)
    add_program = find_program("ssh-add", "openssh-client", purpose)
    folder = Path(tempfile.mkdtemp(prefix="nxc-agent-"))
    socket = folder / "agent"
    agent = subprocess.Popen(
        [agent_program, "-D", "-a", str(socket)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + AGENT_START_TIMEOUT
        while not socket.exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise NxcError("ssh-agent did not start")
            time.sleep(0.02)
        env = {"SSH_AUTH_SOCK": str(socket)}
        added = subprocess.run(
            [add_program, "-q", *[os.path.expanduser(key) for key in keys]],
            env={**os.environ, **env, "SSH_ASKPASS_REQUIRE": "never"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=AGENT_START_TIMEOUT,
            check=False,
        )
        if added.returncode != 0:
            reason = added.stderr.strip() or f"exit {added.returncode}"
            raise NxcError(f"ssh-add could not load {', '.join(keys)}: {reason}")
        yield env
    finally:
        agent.kill()
        agent.wait()
        shutil.rmtree(folder, ignore_errors=True)


# --- the TakTuk run -----------------------------------------------------------------------


@dataclass
class _TreeOutcome:
    done: dict[str, HostResult]
    """Hosts with a verdict from the tree: received everything, or failed for good."""
    retry_directly: list[str]
    unreachable: list[str]
    """Hosts another host could not connect to (among ``retry_directly``)."""
    not_started: dict[str, str]
    """Hosts this machine could not start TakTuk on → the connector's last words."""
    relayed: bool
    """Whether any host was reached through another host."""
    timed_out: float | None = None
    """The time limit, when TakTuk was killed at it."""


@dataclass
class _HostTrace:
    statuses: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    connector: list[str] = field(default_factory=list)
    failed_from: str | None = None
    connected_from: str | None = None


def connector(ssh: str, user: str, options: Sequence[str], timeout: float) -> str:
    """A TakTuk connector (a shell command line TakTuk appends the host to)."""
    argv = [ssh, "-A", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(int(timeout), 1)}",
            "-o", "LogLevel=ERROR", *options, "-l", user]  # fmt: skip
    return shlex.join(argv)


def _delimiter(script: str) -> str:
    """A TakTuk argument delimiter that is no word of ``script``."""
    words = set(script.split())
    for candidate in _DELIMITERS:
        if candidate not in words:
            return candidate
    raise ValueError("no TakTuk delimiter fits this script")


def receive_script(remote_dir: str, digest: str) -> str:
    """What each host runs for one file: the parallel copy's receiving code, then a marker."""
    return f"( {_receive(remote_dir, digest)} ); echo {_DONE} {digest} $?"


def taktuk_argv(
    taktuk: str,
    shell: HostShell,
    hosts: Sequence[str],
    staged: dict[str, Path],
    remote_dir: str,
    relay_options: Sequence[str],
    arity: int,
    timeout: float,
    connect_timeout: float,
) -> list[str]:
    """The ``taktuk`` command line of one broadcast (files staged under safe names)."""
    root = connector(shell.ssh or "ssh", shell.user, shell.options, connect_timeout)
    relay = connector("ssh", shell.user, relay_options, connect_timeout)
    argv = [
        taktuk, "-s", "-d", str(arity), "-t", str(max(int(connect_timeout), 1)),
        "-o", 'output="O $position $line\\n"',
        "-o", 'error="E $position $line\\n"',
        "-o", 'status="X $position $line\\n"',
        "-o", 'connector="C $peer_position $line\\n"',
        "-o", 'state="S $position $peer_position $line\\n"',
        "-o", 'taktuk="T $position $line\\n"',
        "-o", "info", "-o", "message",
        "-o", 'default="D $position $type $line\\n"',
        "-c", root,
    ]  # fmt: skip
    for host in hosts:
        argv += ["-m", host, "-[", "-c", relay, "-]"]
    # every command synchronized: an unsynchronized broadcast reaches only the hosts deployed
    # so far, and an input may overtake the exec it feeds (taktuk(1), "synchronize")
    for target, (digest, path) in enumerate(staged.items()):
        script = receive_script(remote_dir, digest)
        mark = _delimiter(script)
        argv += ["synchronize", "broadcast", "exec", "target", str(target),
                 "timeout", str(int(timeout)), "kill", "9", mark, script, mark, ";",
                 "synchronize", "broadcast", "input", "target", str(target),
                 "file", "[", str(path), "]", ";",
                 "synchronize", "broadcast", "input", "target", str(target), "close", ";"]  # fmt: skip
    return argv


def _run_tree(
    taktuk: str,
    shell: HostShell,
    hosts: list[str],
    files: dict[str, Path],
    remote_dir: str,
    relay_options: Sequence[str],
    arity: int,
    timeout: float,
    connect_timeout: float,
    agent_env: dict[str, str],
) -> _TreeOutcome:
    """One TakTuk run over ``hosts``; who received everything, who should be pushed directly."""
    with tempfile.TemporaryDirectory(prefix="nxc-broadcast-") as folder:
        staged = {}
        for digest, path in files.items():
            link = Path(folder) / digest
            link.symlink_to(Path(path).resolve())
            if not _SAFE_PATH.fullmatch(str(link)):
                raise NxcError(f"{link} is no plain path for TakTuk; set TMPDIR to one")
            staged[digest] = link
        argv = taktuk_argv(
            taktuk, shell, hosts, staged, remote_dir, relay_options, arity, timeout,
            connect_timeout,
        )  # fmt: skip
        output, timed_out = _run(argv, {**os.environ, **agent_env}, timeout)
    traces = _parse(output, len(hosts))
    outcome = _classify(hosts, list(files), traces)
    outcome.timed_out = timeout if timed_out else None
    return outcome


def _run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[str, bool]:
    """TakTuk's output and whether it was killed at ``timeout`` (with all it started)."""
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        stdout, _ = process.communicate(timeout=timeout)
        return stdout.decode(errors="replace"), False
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        stdout, _ = process.communicate()
        return stdout.decode(errors="replace"), True
    finally:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _parse(output: str, count: int) -> dict[int, _HostTrace]:
    """Per host position (1-based, as on the command line): what TakTuk reported."""
    traces = {position: _HostTrace() for position in range(1, count + 1)}

    def trace(word: str) -> _HostTrace | None:
        return traces.get(int(word)) if word.isdigit() else None

    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        position, _, rest = rest.partition(" ")
        host = trace(position)
        if kind == "O" and host is not None:
            words = rest.split()
            if len(words) == 3 and words[0] == _DONE and words[2].lstrip("-").isdigit():
                host.statuses[words[1]] = int(words[2])
        elif kind == "E" and host is not None:
            host.errors.append(rest)
        elif kind == "C" and host is not None:
            host.connector.append(rest)
        elif kind == "S":
            peer_position, _, code = rest.partition(" ")
            peer = trace(peer_position)
            if peer is None or not code.strip().isdigit():
                continue
            if int(code) == CONNECTION_FAILED:
                peer.failed_from = position
            elif int(code) == CONNECTION_INITIALIZED:
                peer.connected_from = position
    return traces


def _classify(hosts: list[str], digests: list[str], traces: dict[int, _HostTrace]) -> _TreeOutcome:
    """Hosts that received everything or failed on the host itself, and those to push directly.

    A host whose receiving code ran and failed (its folder is not private, the copy arrived
    altered) has its verdict; every other host without every file (TakTuk could not connect or
    start there, the run ended early) is left to the parallel copy.
    """
    done: dict[str, HostResult] = {}
    retry: list[str] = []
    for position, host in enumerate(hosts, start=1):
        trace = traces[position]
        if all(trace.statuses.get(digest) == 0 for digest in digests):
            done[host] = HostResult(host, exit_status=0)
            continue
        failed = [status for status in trace.statuses.values() if status != 0]
        if failed:
            detail = trace.errors[-1] if trace.errors else f"exit {failed[0]}"
            done[host] = HostResult(host, exit_status=failed[0], error=f"{host}: {detail}")
        else:
            retry.append(host)
    unreachable = [h for p, h in enumerate(hosts, 1) if traces[p].failed_from not in (None, "0")]
    not_started = {
        h: (traces[p].connector or ["TakTuk could not connect"])[-1]
        for p, h in enumerate(hosts, 1)
        if traces[p].failed_from == "0"
    }
    relayed = any(trace.connected_from not in (None, "0") for trace in traces.values())
    return _TreeOutcome(done, retry, unreachable, not_started, relayed)


def _relay_notes(tree: _TreeOutcome, results: dict[str, HostResult], user: str) -> list[str]:
    """Why some hosts were pushed directly after the tree, for the caller to show."""

    def shown(hosts: list[str]) -> str:
        return ", ".join(hosts[:5]) + (" ..." if len(hosts) > 5 else "")

    notes = []
    reached = [host for host in tree.unreachable if results[host].ok]
    if reached:
        cause = (
            "some hosts could not be reached from other hosts over SSH"
            if tree.relayed
            else "hosts cannot reach each other over SSH"
        )
        notes.append(
            f"{cause}: {len(reached)} host(s) ({shown(reached)}) were copied directly from "
            f"this machine instead (a tree needs every host to reach every other as {user} "
            "over SSH)"
        )
    started = [host for host in tree.not_started if results[host].ok]
    if started:
        reason = tree.not_started[started[0]]
        notes.append(
            f"TakTuk did not start on {len(started)} host(s) ({shown(started)}: {reason}): "
            "copied directly"
        )
    others = [
        host
        for host in tree.retry_directly
        if host not in tree.unreachable and host not in tree.not_started
    ]
    if others:
        why = (
            f"the tree broadcast hit its {tree.timed_out:.0f} s limit"
            if tree.timed_out
            else "the tree gave no verdict"
        )
        notes.append(f"{why} for {len(others)} host(s) ({shown(others)}): copied directly")
    return notes
