"""A local Grid'5000 stand-in: a real OAR 2.5 server (Debian packages) with namespace nodes.

The package fixture :func:`oar_standin` needs root and the Debian packages ``oar-server
oar-server-pgsql oar-node oar-user postgresql`` (installed by ``scripts/setup.sh``); it
installs nothing itself. It:

* creates a dedicated PostgreSQL cluster on a free port (dropped at the end) and OAR's
  database in it;
* sets ``SERVER_HOSTNAME``, the database port and passwords in ``/etc/oar/oar.conf`` (the
  OAR commands read that path only; the original is restored at the end);
* creates a bridge with ``10.214.<k>.254/24`` and one network namespace per node, each with
  an OAR sshd (``/etc/oar/sshd_config``, port 6667) started with ``nsenter --net``, plus the
  OAR sshd on ``127.0.0.1:6667`` where ``deploy`` jobs run their command;
* declares the nodes with ``oarnodesetting -a -h ADDR -p deploy=YES -p cluster=C`` (two
  clusters, as a Grid'5000 site has several: :data:`CLUSTERS`), starts ``oar-server``;
* creates the unprivileged user ``nxcuser`` when missing (jobs are submitted by a normal user).

Teardown deletes leftover jobs, stops the server and every sshd it started (by pid, with
their children), removes namespaces, bridge and cluster, restores the files it changed and
removes the user if it created it, even when setup failed half-way.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from nxc.platforms.oar import Frontend

OAR_CONF = Path("/etc/oar/oar.conf")
OAR_SSHD_CONFIG = Path("/etc/oar/sshd_config")
OAR_SERVER = Path("/usr/sbin/oar-server")
OAR_SERVER_PIDFILE = Path("/var/run/oar-server.pid")
OAR_KNOWN_HOSTS = Path("/var/lib/oar/.ssh/known_hosts")
OAR_SERVER_PORT = 6666
TEST_USER = "nxcuser"
NODE_COUNT = 3
CLUSTERS = ("alpha", "alpha", "beta")
"""The ``cluster`` property of node 1, 2, 3."""
SUPERNET = ipaddress.ip_network("10.214.0.0/16")
READY_TIMEOUT = 30.0
REQUIRED = {
    "oarsub": "oar-user",
    "oarnodesetting": "oar-server",
    "oarproperty": "oar-server",
    "oar-database": "oar-server",
    "pg_createcluster": "postgresql",
    "sshd": "openssh-server",
    "nsenter": "util-linux",
    "ip": "iproute2",
    "runuser": "util-linux",
}


@dataclass
class OarStandIn:
    """A running OAR server with ``hosts`` declared as ``deploy=YES`` nodes."""

    hosts: list[str]
    user: str
    workdir: Path
    frontend: Frontend
    server_address: str
    logs: list[Path] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)
    """The ``cluster`` property of each host."""

    def user_dir(self, name: str) -> Path:
        """A fresh folder owned by the test user (jobs run and write there)."""
        folder = self.workdir / f"{name}-{secrets.token_hex(3)}"
        folder.mkdir()
        entry = pwd.getpwnam(self.user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        return folder

    def admin(self, *argv: str) -> str:
        """Run an OAR admin command as root; return its stdout."""
        return _run(list(argv)).stdout

    def delete_all_jobs(self) -> None:
        """Delete every job not over yet and wait until OAR says they are over."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            live = [job for job, state in _job_states().items() if state not in _ENDED]
            if not live:
                return
            for job in live:
                _run(["runuser", "-u", self.user, "--", "oardel", job], check=False, cwd="/")
            time.sleep(0.5)


_ENDED = {"Terminated", "Error"}


def _tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError(name)


def _run(argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess[str]:
    argv = [_tool(argv[0]), *argv[1:]]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()} "
            f"{result.stdout.strip()}"
        )
    return result


def _job_states() -> dict[str, str]:
    out = _run(["oarstat", "-J"], check=False).stdout
    try:
        jobs = json.loads(out) if out.strip() else {}
    except json.JSONDecodeError:
        return {}
    return {job: str(info.get("state")) for job, info in jobs.items()}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _free_subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(
        [_tool("ip"), "-o", "-4", "addr"], capture_output=True, text=True, check=True
    ).stdout
    taken = {ipaddress.ip_interface(m).network for m in re.findall(r"inet (\S+)", used)}
    subnets = list(SUPERNET.subnets(new_prefix=24))[1:]
    for subnet in secrets.SystemRandom().sample(subnets, len(subnets)):
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise RuntimeError(f"no free /24 left in {SUPERNET}")


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    result, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def _kill_tree(pid: int) -> None:
    """Stop ``pid`` (a process this fixture started) and everything it spawned."""
    for target in [*_descendants(pid), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
        time.sleep(0.1)
    for target in [*_descendants(pid), pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _wait_port(address: str, port: int, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} does not listen on {address}:{port} (log: {log})")


def _setup(stack: contextlib.ExitStack, workdir: Path) -> OarStandIn:
    later: Callable[..., object] = stack.callback
    version = max(os.listdir("/usr/lib/postgresql"), key=int)

    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        _run(["useradd", "--create-home", "--shell", "/bin/bash", TEST_USER])
        later(_run, ["userdel", "--remove", TEST_USER], check=False)
    workdir.chmod(0o755)

    original_conf = OAR_CONF.read_bytes()
    later(OAR_CONF.write_bytes, original_conf)
    known_hosts = OAR_KNOWN_HOSTS.read_bytes() if OAR_KNOWN_HOSTS.exists() else None
    if known_hosts is None:
        later(OAR_KNOWN_HOSTS.unlink, missing_ok=True)
    else:
        later(OAR_KNOWN_HOSTS.write_bytes, known_hosts)

    run_id = secrets.token_hex(3)
    cluster, db_port = f"nxcoar{run_id}", _free_port()
    _run(["pg_createcluster", version, cluster, "-p", str(db_port), "--start"])
    later(_run, ["pg_dropcluster", version, cluster, "--stop"], check=False)
    admin_password = secrets.token_hex(8)
    _run(
        ["runuser", "-u", "postgres", "--", "psql", "-q", "-p", str(db_port), "-c",
         f"ALTER USER postgres PASSWORD '{admin_password}'"],
        cwd="/",
    )  # fmt: skip

    subnet = _free_subnet()
    server_address = str(subnet.network_address + 254)
    settings = {
        "DB_HOSTNAME": "127.0.0.1",
        "DB_PORT": str(db_port),
        "DB_BASE_PASSWD": secrets.token_hex(8),
        "DB_BASE_PASSWD_RO": secrets.token_hex(8),
        "SERVER_HOSTNAME": server_address,
        # no periodic node checks (Finaud): it would mark nodes without an OAR sshd, such
        # as tests/g5k's host VMs, Suspected at any moment
        "FINAUD_FREQUENCY": "0",
    }
    text = original_conf.decode()
    for key, value in settings.items():
        text, count = re.subn(rf"(?m)^{key}=.*$", f'{key}="{value}"', text)
        if count == 0:
            text += f'\n{key}="{value}"\n'
    OAR_CONF.write_text(text)
    _run(["oar-database", "--create", "--db-admin-user", "postgres",
          "--db-admin-pass", admin_password])  # fmt: skip

    bridge = f"nxo{run_id}"
    _run(["ip", "link", "add", bridge, "type", "bridge"])
    later(_run, ["ip", "link", "del", bridge], check=False)
    _run(["ip", "addr", "add", f"{server_address}/24", "dev", bridge])
    _run(["ip", "link", "set", bridge, "up"])
    Path("/run/sshd").mkdir(exist_ok=True)

    logs: list[Path] = []

    def start_sshd(address: str, namespace: str | None) -> None:
        log = workdir / f"sshd-{address}.log"
        logs.append(log)
        prefix = [_tool("nsenter"), f"--net=/run/netns/{namespace}"] if namespace else []
        process = subprocess.Popen(
            [*prefix, _tool("sshd"), "-D", "-f", str(OAR_SSHD_CONFIG), "-E", str(log),
             "-o", f"ListenAddress={address}", "-o", f"PidFile={workdir}/sshd-{address}.pid"],
        )  # fmt: skip
        later(_kill_tree, process.pid)
        _wait_port(address, 6667, f"OAR sshd ({namespace or 'host'})", log)

    _run(["oarproperty", "-a", "cluster", "-c"])
    hosts = []
    for index in range(1, NODE_COUNT + 1):
        namespace, address = f"nxcoar-{run_id}-{index}", str(subnet.network_address + index)
        _run(["ip", "netns", "add", namespace])
        later(_run, ["ip", "netns", "del", namespace], check=False)
        veth = f"nxo{run_id}v{index}"
        _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
              "netns", namespace])  # fmt: skip
        _run(["ip", "link", "set", veth, "master", bridge, "up"])
        _run(["ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0"])
        _run(["ip", "-n", namespace, "link", "set", "eth0", "up"])
        _run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        start_sshd(address, namespace)
        cluster = CLUSTERS[index - 1]
        _run(
            ["oarnodesetting", "-a", "-h", address, "-p", "deploy=YES", "-p", f"cluster={cluster}"]
        )
        hosts.append(address)
    start_sshd("127.0.0.1", None)

    if OAR_SERVER_PIDFILE.exists():
        raise RuntimeError(f"{OAR_SERVER_PIDFILE} exists: another OAR server may be running")
    _run([str(OAR_SERVER)])
    server_pid = int(OAR_SERVER_PIDFILE.read_text())
    later(OAR_SERVER_PIDFILE.unlink, missing_ok=True)
    later(_stop_server, server_pid)
    _wait_port(server_address, OAR_SERVER_PORT, "OAR server (Almighty)", Path("/var/log/oar.log"))

    standin = OarStandIn(
        hosts=hosts,
        user=TEST_USER,
        workdir=workdir,
        frontend=Frontend(wrapper=(_tool("runuser"), "-u", TEST_USER, "--")),
        server_address=server_address,
        logs=logs,
        clusters=dict(zip(hosts, CLUSTERS, strict=True)),
    )
    later(standin.delete_all_jobs)
    return standin


def _stop_server(pid: int) -> None:
    """Stop Almighty and its helpers: the process group ``oar-server`` created for them."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)


@pytest.fixture(scope="package")
def oar_standin() -> Iterator[OarStandIn]:
    """A real OAR server with three ``deploy=YES`` namespace nodes (see module docstring)."""
    if os.geteuid() != 0:
        pytest.skip("the OAR stand-in needs root")
    missing = [f"{tool} ({package})" for tool, package in REQUIRED.items() if not _found(tool)]
    if missing or not OAR_SERVER.exists() or not Path("/usr/lib/postgresql").is_dir():
        pytest.skip(f"OAR stand-in tools missing: {', '.join(missing) or 'oar-server'}")
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="nxc-oar-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        yield _setup(stack, workdir)


def _found(tool: str) -> bool:
    try:
        _tool(tool)
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class SshFrontend:
    """The stand-in's frontend over SSH: its address, client key and pinned host key."""

    user: str
    port: int
    client_key: Path
    known_hosts: Path
    log: Path
    """The sshd's log, at ``DEBUG1``: it shows each connection forwarded for a ``ProxyJump``."""

    @property
    def frontend(self) -> Frontend:
        """The frontend as nxc's OAR layer reaches it with explicit options."""
        return Frontend(
            host=f"{self.user}@127.0.0.1",
            ssh_options=(
                "-p", str(self.port), "-i", str(self.client_key),
                "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR",
            ),
        )  # fmt: skip

    def ssh_config(self, alias: str) -> str:
        """An OpenSSH client configuration entry naming the frontend ``alias`` (a site name)."""
        return (
            f"Host {alias}\n"
            f"  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
            f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
        )


@pytest.fixture(scope="package")
def oar_ssh_frontend(oar_standin: OarStandIn) -> Iterator[SshFrontend]:
    """The stand-in reached as from outside Grid'5000: SSH to the test user on a private sshd.

    A dedicated sshd listens on a free ``127.0.0.1`` port, accepts only a key generated here
    and has its host key pinned in a known_hosts file; it is stopped (by pid) at the end.
    """
    folder = oar_standin.workdir / "frontend-ssh"
    folder.mkdir()
    for name in ("host_key", "client_key"):
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)])
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    (folder / "authorized_keys").chmod(0o644)
    port = _free_port()
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {(folder / 'host_key.pub').read_text()}")
    log = folder / "sshd.log"
    process = subprocess.Popen(
        [_tool("sshd"), "-D", "-f", "/dev/null", "-E", str(log),
         "-o", f"ListenAddress=127.0.0.1:{port}", "-o", f"HostKey={folder / 'host_key'}",
         "-o", f"AuthorizedKeysFile={folder / 'authorized_keys'}", "-o", "StrictModes=no",
         "-o", f"AllowUsers={oar_standin.user}", "-o", "PasswordAuthentication=no", "-o", "UsePAM=yes",
         "-o", f"PidFile={folder / 'sshd.pid'}", "-o", "LogLevel=DEBUG1"],
    )  # fmt: skip
    try:
        _wait_port("127.0.0.1", port, "frontend sshd", log)
        yield SshFrontend(oar_standin.user, port, folder / "client_key", known_hosts, log)
    finally:
        _kill_tree(process.pid)
