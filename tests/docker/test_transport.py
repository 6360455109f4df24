"""The ``docker exec`` transport against real containers of a started deployment."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nxc.deploy import start_deployment, stop_deployment
from nxc.errors import InputError, TransportError
from nxc.flavours import get_flavour
from nxc.flavours.docker.flavour import DockerFlavour
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from nxc.transport.docker import DockerTransport
from tests.docker.conftest import DockerProject, Engine

pytestmark = pytest.mark.docker


def test_exec_commands_copies_timeouts_and_sessions(
    docker_project: DockerProject, docker_cleanup: list, docker_host: Engine, tmp_path: Path
) -> None:
    manifest = docker_project.manifest()
    plan = plan_nodes(manifest, None, parse_role_options(["node=2"]))
    docker_cleanup.append((docker_project.store, plan.deployment_name))
    deployment = start_deployment(docker_project.store, manifest, plan, DockerFlavour())
    transport = get_flavour("docker").transport(deployment, docker_project.store)
    assert isinstance(transport, DockerTransport)
    with transport:
        assert transport.hosts == ["node1", "node2"]

        # group run: per-host output, exit status, stderr apart, lines streamed as they come
        lines: list[tuple[str, str, str]] = []
        result = transport.run(
            "hostname; echo oops >&2; exit $(( $(hostname | tr -dc 0-9) + 1 ))",
            on_output=lambda host, stream, line: lines.append((host, stream, line)),
        )
        assert {r.host: r.exit_status for r in result} == {"node1": 2, "node2": 3}
        assert result["node1"].stdout == "node1\n" and result["node1"].stderr == "oops\n"
        assert sorted(lines) == [
            ("node1", "stderr", "oops"),
            ("node1", "stdout", "node1"),
            ("node2", "stderr", "oops"),
            ("node2", "stdout", "node2"),
        ]
        with pytest.raises(TransportError, match="node1: exit status 2: oops"):
            result["node1"].check()
        assert transport.run(["printf", "%s|", "a b", "c'd"], ["node2"])["node2"].stdout == (
            "a b|c'd|"
        )

        # an overrunning command is stopped in the container, its result says so
        began = time.monotonic()
        slow = transport.run_one("node1", "sleep 300; echo never", timeout=1)
        assert slow.timed_out and slow.exit_status is None and "timed out after 1 s" in slow.error
        assert time.monotonic() - began < 15
        left = transport.run_one("node1", "ps -o args | grep -c '^sleep 300' || true").stdout
        assert left.strip() == "0"

        # copies: a file and a folder there, and back
        source = tmp_path / "payload"
        (source / "sub").mkdir(parents=True)
        (source / "sub" / "data.txt").write_text("hello\n")
        (source / "run.sh").write_text("#!/bin/sh\necho ran\n")
        (source / "run.sh").chmod(0o755)
        transport.put(source, "/root/payload").check()
        transport.put(source / "sub" / "data.txt", "/tmp/renamed.txt", ["node2"]).check()
        assert transport.run_one("node1", "/root/payload/run.sh").check().stdout == "ran\n"
        assert transport.run_one("node2", "cat /tmp/renamed.txt").check().stdout == "hello\n"
        back = tmp_path / "back"
        transport.get("node1", "/root/payload", back).check()
        assert (back / "sub" / "data.txt").read_text() == "hello\n"
        assert (back / "run.sh").stat().st_mode & 0o111
        missing = transport.get("node1", "/nonexistent", tmp_path / "none")
        assert not missing.ok and "no such container or path" in missing.error

        # readiness, interactive sessions (docker exec -it), unknown hosts
        assert transport.wait_ready(timeout=10).ok
        argv = transport.interactive_argv("node2")
        assert argv[1:5] == ["-H", docker_host.url, "exec", "-it"]
        assert argv[-3:] == [deployment.node("node2").extra["container_id"], "/bin/sh", "-l"]
        assert transport.interactive_argv("node1", ["ls", "-l"])[-3:] == ["sh", "-c", "ls -l"]
        with pytest.raises(InputError, match=r"unknown host.*node9"):
            transport.run("true", ["node9"])

        # a crashed container: a failed result, not an exception
        DockerFlavour().crash_node(deployment, docker_project.store, "node2")
        after = transport.run("true")
        assert after["node1"].ok
        assert not after["node2"].ok and after["node2"].error
    stop_deployment(docker_project.store, deployment.name)
    with pytest.raises(InputError, match="start it with 'nxc start'"):
        DockerFlavour().transport(
            docker_project.store.load(deployment.name), docker_project.store
        ).run("true")
