"""``docker exec`` transport: commands and copies into a deployment's containers.

Everything goes through the engine's API (exec create/start/inspect, archive put/get); only
:meth:`DockerTransport.interactive_argv` names the ``docker`` CLI, for ``nxc connect``
(``docker exec -it``). Commands run as ``sh -c COMMAND`` with a ``PATH`` that covers NixOS
(``/run/current-system/sw/bin``) and ordinary roots. Each exec is its own session, so a
command that overruns its timeout is stopped by killing its process group through a second
exec, like the SSH transport does. Hosts run concurrently, one thread each (bounded).
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from nxc.errors import InputError, TransportError
from nxc.fanout import GroupResult, HostResult
from nxc.programs import find_program
from nxc.transport.base import Command, OutputCallback, Transport
from nxc.transport.remote_shell import (
    command_line,
    kill_group_script,
    process_group_of,
    wrap_command,
)

if TYPE_CHECKING:
    import docker

    from nxc.deployment import Deployment, DeploymentStore

EXEC_PATH = (
    "/run/wrappers/bin:/root/.nix-profile/bin:/run/current-system/sw/bin:"
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)
MAX_CONCURRENCY = 32
KILL_GRACE = 2.0


class _Stream:
    """One output stream of a command: accumulated text, complete lines to the callback."""

    def __init__(self, host: str, name: str, callback: OutputCallback | None) -> None:
        self.host, self.name, self.callback = host, name, callback
        self.chunks: list[str] = []
        self._partial = ""

    def feed(self, text: str) -> None:
        self.chunks.append(text)
        if self.callback is None:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.callback(self.host, self.name, line)

    def finish(self) -> None:
        if self.callback is not None and self._partial:
            self.callback(self.host, self.name, self._partial)
        self._partial = ""

    @property
    def text(self) -> str:
        return "".join(self.chunks)


class DockerTransport(Transport):
    """Reach containers by hostname through the engine at ``engine`` (a Docker host URL)."""

    def __init__(
        self,
        engine: str,
        containers: dict[str, str],
        *,
        max_concurrency: int = MAX_CONCURRENCY,
    ) -> None:
        from nxc.flavours.docker.engine import connect

        self.engine = engine
        self._containers = dict(containers)
        self._api: docker.APIClient | None = connect(engine)
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_concurrency))
        self._lock = threading.Lock()

    @classmethod
    def for_deployment(cls, deployment: Deployment, store: DeploymentStore) -> DockerTransport:
        """The transport of a started docker deployment (its recorded engine and containers)."""
        from nxc.flavours.docker.record import DockerNodeFacts, DockerResources
        from nxc.record_section import node_facts_of, resources_of

        engine = resources_of(DockerResources, deployment).engine
        containers: dict[str, str] = {}
        for node in deployment.nodes:
            facts = node_facts_of(DockerNodeFacts, deployment, node)
            containers[node.hostname] = facts.container_id or facts.container_name or ""
        if not deployment.is_active or not engine or not all(containers.values()):
            raise InputError(
                f"deployment {deployment.name} has no running containers ({deployment.state}); "
                "start it with 'nxc start' first"
            )
        return cls(engine, containers)

    @property
    def hosts(self) -> list[str]:
        return list(self._containers)

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            raise TransportError("the transport is closed; open a new one")
        return self._api

    def _select(self, hosts: Iterable[str] | None) -> list[str]:
        if hosts is None:
            return self.hosts
        selected = list(hosts)
        unknown = [host for host in selected if host not in self._containers]
        if unknown:
            raise InputError(
                f"unknown host(s) {', '.join(unknown)}; this deployment has: "
                f"{', '.join(self._containers)}"
            )
        return selected

    def _fan_out(self, hosts: list[str], operation: Any) -> GroupResult:
        def guarded(host: str) -> HostResult:
            start = time.monotonic()
            try:
                return operation(host)
            except Exception as error:
                return HostResult(host, error=_reason(error), duration=time.monotonic() - start)

        futures = {host: self._pool.submit(guarded, host) for host in hosts}
        return GroupResult({host: future.result() for host, future in futures.items()})

    # --- commands ------------------------------------------------------------------------

    def run(
        self,
        command: Command,
        hosts: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
        on_output: OutputCallback | None = None,
    ) -> GroupResult:
        line = command_line(command)
        return self._fan_out(
            self._select(hosts), lambda host: self._run_one(host, line, timeout, on_output)
        )

    def _run_one(
        self, host: str, line: str, timeout: float | None, on_output: OutputCallback | None
    ) -> HostResult:
        start = time.monotonic()
        container = self._containers[host]
        wrapped = wrap_command(line)
        exec_id = self.api.exec_create(
            container, ["sh", "-c", wrapped], environment={"PATH": EXEC_PATH}, tty=False
        )["Id"]
        output = self.api.exec_start(exec_id, stream=True, demux=True)
        out = _Stream(host, "stdout", on_output)
        err = _Stream(host, "stderr", on_output)
        announced: dict[str, int] = {}

        def pump() -> None:
            head = ""
            for stdout, stderr in output:
                if stdout:
                    out.feed(stdout.decode(errors="replace"))
                if stderr:
                    text = stderr.decode(errors="replace")
                    if "group" not in announced:
                        head += text
                        if "\n" not in head:
                            continue
                        first, text = head.split("\n", 1)
                        group = process_group_of(first)
                        announced["group"] = -1 if group is None else group
                        if group is None:
                            text = first + "\n" + text
                    if text:
                        err.feed(text)
            if head and "group" not in announced:
                err.feed(head)
            out.finish()
            err.finish()

        reader = threading.Thread(target=pump, name=f"nxc-exec-{host}", daemon=True)
        reader.start()
        reader.join(timeout)
        result = HostResult(host)
        if reader.is_alive():
            self._kill(container, announced.get("group", -1))
            reader.join(KILL_GRACE * 3)
            result.timed_out = True
            result.error = f"timed out after {timeout:g} s"
        else:
            status = self.api.exec_inspect(exec_id).get("ExitCode")
            result.exit_status = status
            if status is None:
                result.error = "the container stopped while the command ran"
        result.stdout, result.stderr = out.text, err.text
        result.duration = time.monotonic() - start
        return result

    def _kill(self, container: str, process_group: int) -> None:
        if process_group <= 0:
            return
        with contextlib.suppress(Exception):
            exec_id = self.api.exec_create(
                container, ["sh", "-c", kill_group_script(process_group)]
            )["Id"]
            self.api.exec_start(exec_id)

    # --- files ---------------------------------------------------------------------------

    def put(
        self,
        local: Path,
        remote: str,
        hosts: Iterable[str] | None = None,
        *,
        timeout: float | None = None,
    ) -> GroupResult:
        local = Path(local)
        if not local.exists():
            raise InputError(f"{local} does not exist; nothing to copy")
        target = PurePosixPath(remote)
        archive = _tar_of(local, target.name)

        def one(host: str) -> HostResult:
            start = time.monotonic()
            ok = self.api.put_archive(self._containers[host], str(target.parent), archive)
            result = HostResult(host, exit_status=0 if ok else None)
            if not ok:
                result.error = f"copy to {host}:{remote} refused by the engine"
            result.duration = time.monotonic() - start
            return result

        return self._fan_out(self._select(hosts), one)

    def get(
        self, host: str, remote: str, local: Path, *, timeout: float | None = None
    ) -> HostResult:
        (host,) = self._select([host])
        start = time.monotonic()
        try:
            stream, _ = self.api.get_archive(self._containers[host], remote)
            _extract(b"".join(stream), PurePosixPath(remote).name, Path(local))
        except Exception as error:
            return HostResult(host, error=_reason(error), duration=time.monotonic() - start)
        return HostResult(host, exit_status=0, duration=time.monotonic() - start)

    # --- readiness, sessions -------------------------------------------------------------

    def wait_ready(self, hosts: Iterable[str] | None = None, *, timeout: float) -> GroupResult:
        deadline = time.monotonic() + timeout

        def one(host: str) -> HostResult:
            while True:
                remaining = max(1.0, deadline - time.monotonic())
                try:
                    result = self._run_one(host, "true", remaining, None)
                except Exception as error:
                    result = HostResult(host, error=_reason(error))
                if result.ok or time.monotonic() >= deadline:
                    if not result.ok:
                        result.error = f"not ready after {timeout:g} s: {result.describe_failure()}"
                    return result
                time.sleep(0.5)

        return self._fan_out(self._select(hosts), one)

    def interactive_argv(self, host: str, command: Sequence[str] | None = None) -> list[str]:
        (host,) = self._select([host])
        docker_cli = find_program("docker", "docker.io", "to open a shell in a container")
        argv = [docker_cli, "-H", self.engine, "exec", "-it", "-e", f"PATH={EXEC_PATH}"]
        argv.append(self._containers[host])
        if command is None:
            return [*argv, "/bin/sh", "-l"]
        return [*argv, "sh", "-c", command_line(command)]

    def close(self) -> None:
        with self._lock:
            api, self._api = self._api, None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if api is not None:
            api.close()


def _reason(error: BaseException) -> str:
    import docker

    if isinstance(error, docker.errors.NotFound):
        return f"no such container or path ({error.explanation})"
    if isinstance(error, docker.errors.APIError):
        explanation = error.explanation
        if isinstance(explanation, bytes):
            explanation = explanation.decode(errors="replace")
        return f"the Docker engine refused: {explanation or error}"
    return f"{type(error).__name__}: {error}"


def _tar_of(local: Path, name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(str(local), arcname=name)
    return buffer.getvalue()


def _extract(data: bytes, top: str, local: Path) -> None:
    """Unpack an archive whose entries start with ``top`` so that ``top`` becomes ``local``."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not parts or parts[0] != top or ".." in parts or member.issym() or member.islnk():
                if member.issym() or member.islnk():
                    continue
                raise TransportError(f"unexpected entry {member.name!r} in the copied archive")
            destination = local.joinpath(*parts[1:])
            if member.isdir():
                destination.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is not None:
                    destination.write_bytes(source.read())
                    destination.chmod(member.mode & 0o777)
