"""SSH transport on asyncssh: one persistent, pinned connection per node, bounded fan-out.

* Host keys come from the deployment (each node's pinned public key), never from ``~/.ssh``;
  a node presenting another key is refused at once with a :class:`HostKeyMismatchError`
  naming both keys' SHA256 fingerprints (its result has ``refused`` set: retrying cannot help).
* The client authenticates with the deployment's own key only (no agent, no ``~/.ssh/config``).
* Each node gets one connection, opened on first use and reused by every later call; when it
  is lost (node rebooted, kexec'd, sshd restarted) the next call reconnects, retrying refused
  or unreachable connections until ``connect_timeout`` has passed.
* At most ``max_concurrency`` operations (connection set-up included) are in flight at once
  (:data:`nxc.limits.DEFAULT_CONCURRENCY` by default); the process's open-file limit is raised
  up front so that every node's persistent connection fits (:func:`nxc.limits.ensure_open_files`).
* Commands have optional timeouts; a command that overruns is sent SIGTERM, its channel closed,
  and its host's result marked ``timed_out``.

:class:`AsyncSshTransport` is the asyncio core; :class:`SshTransport` is the synchronous
:class:`~nxc.transport.base.Transport` around it, running the core on a background event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nxc import limits
from nxc.errors import HostKeyMismatchError, InputError, TransportError
from nxc.fanout import GroupResult, HostResult, fan_out
from nxc.keys import pinned_host_key, ssh_argv, write_known_hosts
from nxc.transport.base import Command, OutputCallback, SshEndpoint, Transport
from nxc.transport.loop import LoopThread
from nxc.transport.remote_shell import (
    PROCESS_GROUP_MARKER,
    command_line,
    kill_group_script,
    process_group_of,
    wrap_command,
)
from nxc.transport.sshconfig import (
    NO_CONFIG,
    SshConfig,
    asyncssh_config,
    from_record,
    openssh_options,
)

if TYPE_CHECKING:
    import asyncssh

    from nxc.deployment import Deployment, DeploymentStore

DEFAULT_CONNECT_TIMEOUT = 10.0
KEEPALIVE_INTERVAL = 5.0
KEEPALIVE_COUNT_MAX = 3
READ_CHUNK = 65536
KILL_TIMEOUT = 5.0

SftpTransfer = Callable[["asyncssh.SFTPClient"], Awaitable[None]]


class _OutputCollector:
    """Accumulates one stream of a command and reports complete lines to a callback.

    With ``marker``, the stream's first line is the process group announcement written by
    :func:`wrap_command`: it is parsed into ``process_group`` and kept out of the output.
    """

    def __init__(
        self, host: str, stream: str, callback: OutputCallback | None, marker: bool = False
    ) -> None:
        self.host = host
        self.stream = stream
        self.callback = callback
        self.process_group: int | None = None
        self.chunks: list[str] = []
        self._partial = ""
        self._awaiting_marker = marker
        self._head = ""

    @property
    def text(self) -> str:
        return "".join(self.chunks) + self._head

    def feed(self, chunk: str) -> None:
        if self._awaiting_marker:
            chunk = self._take_marker(chunk)
            if not chunk:
                return
        self.chunks.append(chunk)
        if self.callback is None:
            return
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.callback(self.host, self.stream, line)

    def _take_marker(self, chunk: str) -> str:
        """Remove the marker line from the stream; return what is ordinary output so far.

        Lines before the marker (start-up noise of the remote shell) are passed through.
        """
        self._head += chunk
        passed = []
        while self._awaiting_marker and "\n" in self._head:
            line, self._head = self._head.split("\n", 1)
            if line.startswith(PROCESS_GROUP_MARKER):
                self._awaiting_marker = False
                self.process_group = process_group_of(line)
            else:
                passed.append(line + "\n")
        if not self._awaiting_marker:
            passed.append(self._head)
            self._head = ""
        return "".join(passed)

    def finish(self) -> None:
        if self._awaiting_marker and self._head:
            self._awaiting_marker = False
            self.feed(self._head)
            self._head = ""
        if self.callback is not None and self._partial:
            self.callback(self.host, self.stream, self._partial)
        self._partial = ""

    async def drain(self, reader: asyncssh.SSHReader[str]) -> None:
        while chunk := await reader.read(READ_CHUNK):
            self.feed(chunk)
        self.finish()


class AsyncSshTransport:
    """The asyncio SSH core; every method must run on one event loop."""

    def __init__(
        self,
        endpoints: Iterable[SshEndpoint],
        client_key: Path,
        *,
        user: str = "root",
        max_concurrency: int = limits.DEFAULT_CONCURRENCY,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        ssh_config: SshConfig = NO_CONFIG,
    ) -> None:
        import asyncssh

        self.endpoints = {endpoint.hostname: endpoint for endpoint in endpoints}
        self.user = user
        self.connect_timeout = connect_timeout
        self.ssh_config = ssh_config
        self._pinned = {host: _pinned_key(ep) for host, ep in self.endpoints.items()}
        try:
            self._client_key = asyncssh.read_private_key(str(client_key))
        except (OSError, ValueError, asyncssh.KeyImportError) as error:
            raise InputError(
                f"cannot read the deployment's client key {client_key} ({error}); "
                "redeploy to generate it"
            ) from error
        self._limit = asyncio.Semaphore(limits.check_concurrency(max_concurrency))
        limits.ensure_open_files(max(len(self.endpoints), 1))  # one open connection per node
        self._connections: dict[str, asyncssh.SSHClientConnection] = {}
        self._locks = {host: asyncio.Lock() for host in self.endpoints}

    def _endpoint(self, host: str) -> SshEndpoint:
        try:
            return self.endpoints[host]
        except KeyError:
            raise InputError(
                f"unknown node {host!r}; nodes of this deployment: {', '.join(self.endpoints)}"
            ) from None

    async def _connect(self, host: str, deadline: float) -> asyncssh.SSHClientConnection:
        import asyncssh

        endpoint = self._endpoint(host)
        where = f"{host} ({self.user}@{endpoint.ssh_host}:{endpoint.ssh_port})"
        delay = 0.1
        while True:
            remaining = deadline - time.monotonic()
            witness = _host_key_witness()
            try:
                return await asyncssh.connect(
                    endpoint.ssh_host,
                    endpoint.ssh_port,
                    client_factory=witness,
                    username=self.user,
                    known_hosts=([self._pinned[host]], [], []),
                    client_keys=[self._client_key],
                    agent_path=None,
                    config=asyncssh_config(self.ssh_config),
                    preferred_auth="publickey",
                    connect_timeout=max(remaining, 0.2),
                    keepalive_interval=KEEPALIVE_INTERVAL,
                    keepalive_count_max=KEEPALIVE_COUNT_MAX,
                )
            except asyncssh.HostKeyNotVerifiable as error:
                presented = witness.presented
                seen = presented.get_fingerprint("sha256") if presented else error.reason
                pinned = self._pinned[host].get_fingerprint("sha256")
                raise HostKeyMismatchError(
                    f"{where} presented a host key that is not the one pinned in the deployment "
                    f"(presented {seen}, pinned {pinned}); another machine answers at that "
                    "address or the node was not started by this deployment: check the address "
                    "or redeploy"
                ) from error
            except asyncssh.PermissionDenied as error:
                raise TransportError(
                    f"{where} refused the deployment's client key; the node did not get this "
                    "deployment's authorized key: redeploy it"
                ) from error
            except (TimeoutError, OSError, asyncssh.Error) as error:
                if time.monotonic() + delay >= deadline:
                    reason = _reason(error)
                    raise TransportError(
                        f"cannot connect to {where} within {self.connect_timeout:g} s: {reason}"
                    ) from error
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def _connection(self, host: str, deadline: float) -> asyncssh.SSHClientConnection:
        async with self._locks[host]:
            connection = self._connections.get(host)
            if connection is not None and not connection.is_closed():
                return connection
            connection = await self._connect(host, deadline)
            self._connections[host] = connection
            return connection

    def _forget(self, host: str, connection: asyncssh.SSHClientConnection) -> None:
        if self._connections.get(host) is connection:
            del self._connections[host]
        connection.abort()

    async def _open_process(self, host: str, command: str) -> asyncssh.SSHClientProcess[str]:
        """Start ``command``; a stale connection is replaced once (the command never ran)."""
        import asyncssh

        deadline = time.monotonic() + self.connect_timeout
        retried = False
        while True:
            connection = await self._connection(host, deadline)
            try:
                process = await asyncio.wait_for(
                    connection.create_process(command, encoding="utf-8", errors="replace"),
                    max(deadline - time.monotonic(), 1.0),
                )
            except (TimeoutError, asyncssh.Error, OSError) as error:
                self._forget(host, connection)
                if retried:
                    raise TransportError(f"{host}: cannot start a command: {error}") from error
                retried = True
                continue
            process.stdin.write_eof()
            return process

    async def run_one(
        self,
        host: str,
        command: Command,
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> HostResult:
        """Run ``command`` on ``host``; failures are in the result, not raised."""
        import asyncssh

        start = time.monotonic()
        async with self._limit:
            try:
                process = await self._open_process(host, wrap_command(command_line(command)))
            except TransportError as error:
                refused = isinstance(error, HostKeyMismatchError)
                duration = time.monotonic() - start
                return HostResult(host, error=str(error), duration=duration, refused=refused)
            out = _OutputCollector(host, "stdout", on_output)
            err = _OutputCollector(host, "stderr", on_output, marker=True)

            async def complete() -> None:
                await asyncio.gather(out.drain(process.stdout), err.drain(process.stderr))
                await process.wait_closed()

            result = HostResult(host)
            try:
                await asyncio.wait_for(complete(), timeout)
            except TimeoutError:
                await self._stop(host, process, err.process_group)
                result.timed_out = True
                result.error = f"timed out after {timeout:g} s"
            except (asyncssh.Error, OSError) as error:
                result.error = f"connection lost while the command ran: {error}"
            else:
                result.exit_status = process.returncode
                if result.exit_status is None:
                    result.error = "connection lost while the command ran (node rebooted?)"
            result.stdout, result.stderr = out.text, err.text
            result.duration = time.monotonic() - start
            return result

    async def _stop(
        self, host: str, process: asyncssh.SSHClientProcess[str], process_group: int | None
    ) -> None:
        """Stop a remote command: kill its process group, close its channel."""
        connection = self._connections.get(host)
        if process_group is not None and connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    connection.run(kill_group_script(process_group)), KILL_TIMEOUT
                )
        with contextlib.suppress(Exception):
            process.close()

    async def run(
        self,
        command: Command,
        hosts: Sequence[str],
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> GroupResult:
        """Run ``command`` on every host of ``hosts`` at once (bounded by the semaphore)."""
        return await fan_out(
            hosts, lambda host: self.run_one(host, command, timeout=timeout, on_output=on_output)
        )

    async def _sftp(
        self, host: str, action: str, timeout: float | None, transfer: SftpTransfer
    ) -> HostResult:
        import asyncssh

        start = time.monotonic()
        async with self._limit:
            result = HostResult(host)
            try:
                connection = await self._connection(host, time.monotonic() + self.connect_timeout)

                async def session() -> None:
                    async with connection.start_sftp_client() as sftp:
                        await transfer(sftp)

                await asyncio.wait_for(session(), timeout)
                result.exit_status = 0
            except TransportError as error:
                result.error = str(error)
            except TimeoutError:
                result.timed_out = True
                result.error = f"{action} timed out after {timeout:g} s"
            except (asyncssh.Error, OSError) as error:
                result.error = f"{action} failed: {error}"
            result.duration = time.monotonic() - start
            return result

    async def put(
        self, local: Path, remote: str, hosts: Sequence[str], *, timeout: float | None = None
    ) -> GroupResult:
        """Copy ``local`` (file or folder) to ``remote`` on every host of ``hosts``."""

        async def one(host: str) -> HostResult:
            async def transfer(sftp: asyncssh.SFTPClient) -> None:
                await sftp.put(str(local), remote, recurse=True, preserve=True)

            return await self._sftp(host, f"copy of {local} to {host}:{remote}", timeout, transfer)

        return await fan_out(hosts, one)

    async def get(
        self, host: str, remote: str, local: Path, *, timeout: float | None = None
    ) -> HostResult:
        """Copy ``remote`` (file or folder) of ``host`` to ``local``."""

        async def transfer(sftp: asyncssh.SFTPClient) -> None:
            await sftp.get(remote, str(local), recurse=True, preserve=True)

        return await self._sftp(host, f"copy of {host}:{remote} to {local}", timeout, transfer)

    async def wait_ready(self, hosts: Sequence[str], *, timeout: float) -> GroupResult:
        """Wait until each host runs ``true`` through SSH, retrying until ``timeout``."""
        deadline = time.monotonic() + timeout

        async def one(host: str) -> HostResult:
            while True:
                result = await self.run_one(
                    host, "true", timeout=max(1.0, deadline - time.monotonic())
                )
                if result.ok or time.monotonic() >= deadline:
                    if not result.ok:
                        result.error = f"not ready after {timeout:g} s: {result.describe_failure()}"
                    return result
                await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

        return await fan_out(hosts, one)

    async def close(self) -> None:
        """Close every connection."""
        connections = list(self._connections.values())
        self._connections.clear()
        for connection in connections:
            connection.close()
        for connection in connections:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.wait_closed(), 5)


def _host_key_witness() -> Any:
    """An ``asyncssh.SSHClient`` that remembers the host key a server presented when it is not
    the pinned one (asyncssh asks the client only about keys it does not trust)."""
    import asyncssh

    class Witness(asyncssh.SSHClient):
        presented: asyncssh.SSHKey | None = None

        def __call__(self) -> Witness:
            return self  # the client factory of one connection attempt

        def validate_host_public_key(
            self, host: str, addr: str, port: int, key: asyncssh.SSHKey
        ) -> bool:
            self.presented = key
            return False

    return Witness()


def _reason(error: BaseException) -> str:
    """A short human reason for a connection failure (``Connection refused``, ``timed out``)."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


def _pinned_key(endpoint: SshEndpoint) -> asyncssh.SSHKey:
    import asyncssh

    key = pinned_host_key(endpoint)
    try:
        return asyncssh.import_public_key(key)
    except (ValueError, asyncssh.KeyImportError) as error:
        raise InputError(
            f"pinned host key of {endpoint.hostname} cannot be read ({error}); redeploy it"
        ) from error


class SshTransport(Transport):
    """Synchronous SSH transport for a deployment's nodes (see the module docstring).

    ``known_hosts`` (the deployment's pinned ``known_hosts`` file) is only needed for
    :meth:`interactive_argv`. Close it when done, or use it in a ``with`` block.
    """

    def __init__(
        self,
        endpoints: Iterable[SshEndpoint],
        client_key: Path,
        *,
        known_hosts: Path | None = None,
        user: str = "root",
        max_concurrency: int = limits.DEFAULT_CONCURRENCY,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        command_timeout: float | None = None,
        ssh_config: SshConfig = NO_CONFIG,
    ) -> None:
        self._endpoints = {endpoint.hostname: endpoint for endpoint in endpoints}
        self.client_key = client_key
        self.known_hosts = known_hosts
        self.user = user
        self.ssh_config = ssh_config
        self.command_timeout = command_timeout
        self._loop = LoopThread()

        async def create() -> AsyncSshTransport:
            return AsyncSshTransport(
                self._endpoints.values(),
                client_key,
                user=user,
                max_concurrency=max_concurrency,
                connect_timeout=connect_timeout,
                ssh_config=ssh_config,
            )

        try:
            self._core = self._loop.call(create())
        except BaseException:
            self._loop.stop()
            raise
        self._finalizer = weakref.finalize(self, _shutdown, self._loop, self._core)

    @classmethod
    def for_deployment(
        cls, deployment: Deployment, store: DeploymentStore, **options: Any
    ) -> SshTransport:
        """The transport of a recorded deployment: its nodes, client key and pinned keys.

        The deployment's ``known_hosts`` is (re)written from the record if it is missing, and
        the OpenSSH configuration it recorded (:mod:`nxc.transport.sshconfig`) is honoured.
        ``options`` are those of the constructor (``max_concurrency``, ``connect_timeout``...).
        """
        known_hosts = store.known_hosts_path(deployment.name)
        if not known_hosts.exists():
            write_known_hosts(known_hosts, deployment.nodes)
        options.setdefault("ssh_config", from_record(deployment.resources))
        return cls(
            deployment.nodes,
            store.client_key_path(deployment.name),
            known_hosts=known_hosts,
            **options,
        )

    @property
    def hosts(self) -> list[str]:
        return list(self._endpoints)

    def _select(self, hosts: Iterable[str] | None) -> list[str]:
        selected = self.hosts if hosts is None else list(hosts)
        unknown = [host for host in selected if host not in self._endpoints]
        if unknown:
            raise InputError(
                f"unknown node {', '.join(unknown)}; nodes of this deployment: "
                f"{', '.join(self._endpoints)}"
            )
        return selected

    def _timeout(self, timeout: float | None) -> float | None:
        return self.command_timeout if timeout is None else timeout

    def run(
        self,
        command: Command,
        hosts: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> GroupResult:
        return self._loop.call(
            self._core.run(
                command, self._select(hosts), timeout=self._timeout(timeout), on_output=on_output
            )
        )

    def run_one(self, host: str, command: Command, *, timeout: float | None = None) -> HostResult:
        (host,) = self._select([host])
        return self._loop.call(self._core.run_one(host, command, timeout=self._timeout(timeout)))

    def put(
        self,
        local: Path,
        remote: str,
        hosts: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
    ) -> GroupResult:
        if not Path(local).exists():
            raise InputError(f"cannot copy {local} to the nodes: it does not exist")
        return self._loop.call(
            self._core.put(Path(local), remote, self._select(hosts), timeout=timeout)
        )

    def get(
        self, host: str, remote: str, local: Path, *, timeout: float | None = None
    ) -> HostResult:
        (host,) = self._select([host])
        return self._loop.call(self._core.get(host, remote, Path(local), timeout=timeout))

    def wait_ready(self, hosts: Iterable[str] | None = None, *, timeout: float) -> GroupResult:
        return self._loop.call(self._core.wait_ready(self._select(hosts), timeout=timeout))

    def interactive_argv(self, host: str, command: Sequence[str] | None = None) -> list[str]:
        (host,) = self._select([host])
        if self.known_hosts is None:
            raise TransportError(
                "this transport was opened without the deployment's known_hosts file, "
                "so it cannot start an OpenSSH session; pass known_hosts="
            )
        return ssh_argv(
            self._endpoints[host],
            self.client_key,
            self.known_hosts,
            command,
            user=self.user,
            extra_options=openssh_options(self.ssh_config),
        )

    def close(self) -> None:
        self._finalizer()


def _shutdown(loop: LoopThread, core: AsyncSshTransport) -> None:
    if loop.running:
        with contextlib.suppress(Exception):
            loop.call(core.close())
        loop.stop()
