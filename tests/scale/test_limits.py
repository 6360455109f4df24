"""Bounded fan-out: the concurrency limit, and the open-file limit raised for real.

The ``RLIMIT_NOFILE`` cases run in a child Python process that first sets its own limits with
the real ``setrlimit``, so this test process keeps its limits.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import pytest

from nxc.errors import InputError
from nxc.fanout import HostResult, fan_out, run_bounded
from nxc.limits import FDS_PER_CONNECTION, RESERVED_FDS, check_concurrency, open_files_needed

CHILD = """
import json, resource, sys
from nxc.errors import ResourceLimitError
from nxc.limits import ensure_open_files
soft, hard = (int(x) for x in sys.argv[1:3])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
try:
    value = ensure_open_files(int(sys.argv[3]))
    error = None
except ResourceLimitError as exc:
    value, error = None, str(exc)
print(json.dumps({"returned": value, "error": error,
                  "now": resource.getrlimit(resource.RLIMIT_NOFILE)}))
"""


def _child(soft: int, hard: int, concurrency: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(soft), str(hard), str(concurrency)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_the_soft_limit_is_raised_to_what_the_connections_need():
    needed = RESERVED_FDS + FDS_PER_CONNECTION * 1000
    answer = _child(256, needed + 500, 1000)
    assert answer == {"returned": needed, "error": None, "now": [needed, needed + 500]}


def test_a_soft_limit_already_high_enough_is_left_alone():
    answer = _child(9000, 9000, 100)
    assert answer == {"returned": 9000, "error": None, "now": [9000, 9000]}


def test_a_hard_limit_too_low_is_refused_naming_it_and_what_fits():
    answer = _child(256, 1024, 1000)
    assert answer["returned"] is None
    assert answer["now"] == [256, 1024]
    fits = (1024 - RESERVED_FDS) // FDS_PER_CONNECTION
    assert f"need {open_files_needed(1000)} open files" in answer["error"]
    assert "at most 1024 (hard RLIMIT_NOFILE)" in answer["error"]
    assert f"at most {fits} hosts at once" in answer["error"]


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_unusable_limits_are_refused(bad):
    with pytest.raises(InputError, match="1 or more"):
        check_concurrency(bad)


def _fan_out_peak(hosts: list[str], limit: int | None):
    """The most operations :func:`fan_out` ran at once, and its result (h3 raises)."""
    running, peak = 0, 0

    async def operation(host: str) -> HostResult:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        if host == "h3":
            raise RuntimeError("boom")
        return HostResult(host, exit_status=0)

    result = asyncio.run(fan_out(hosts, operation, limit=limit))
    return peak, result


def test_fan_out_with_a_limit_of_two_never_runs_more_than_two():
    hosts = [f"h{i}" for i in range(10)]
    peak, result = _fan_out_peak(hosts, 2)
    assert peak == 2
    assert [r.host for r in result.failed] == ["h3"]
    assert result["h3"].error == "RuntimeError: boom"
    assert list(result.results) == hosts


def test_fan_out_without_a_limit_still_runs_every_host_at_once():
    peak, result = _fan_out_peak([f"h{i}" for i in range(10)], None)
    assert peak == 10
    assert len(result.failed) == 1


def test_run_bounded_uses_at_most_limit_threads_and_keeps_the_order():
    lock = threading.Lock()
    running, peak, threads = 0, 0, set()

    def operation(host: str) -> HostResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.02)
        with lock:
            running -= 1
        if host == "h5":
            raise InputError("h5 is not a host")
        return HostResult(host, exit_status=0)

    hosts = [f"h{i}" for i in range(12)]
    result = run_bounded(hosts, operation, 2)
    assert peak == 2 and len(threads) == 2
    assert list(result.results) == hosts
    assert result["h5"].error == "h5 is not a host"
    assert len(result.succeeded) == 11


TRANSPORT_CHILD = """
import resource, sys
from dataclasses import dataclass
from pathlib import Path
from nxc.keys import generate_keypair
from nxc.transport.ssh import AsyncSshTransport

@dataclass
class Endpoint:
    hostname: str
    ssh_host: str
    host_key: str
    ssh_port: int = 22

key = Path(sys.argv[1])
key.write_bytes(generate_keypair("limits-test").private_openssh)
host_key = generate_keypair("limits-test-host").public_line
resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
nodes = [Endpoint(f"node{i}", f"10.0.{i // 250}.{i % 250 + 1}", host_key) for i in range(1000)]
AsyncSshTransport(nodes, key)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
"""


def test_the_ssh_transport_raises_the_open_file_limit_for_every_nodes_connection(tmp_path):
    """1000 nodes keep 1000 connections open: the transport makes room before connecting."""
    result = subprocess.run(
        [sys.executable, "-c", TRANSPORT_CHILD, str(tmp_path / "client_key")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(result.stdout) == open_files_needed(1000)


def test_the_ssh_transport_refuses_an_unusable_concurrency_limit(tmp_path):
    from nxc.keys import generate_keypair
    from nxc.transport.ssh import AsyncSshTransport

    key = tmp_path / "client_key"
    key.write_bytes(generate_keypair("limits-test").private_openssh)
    with pytest.raises(InputError, match="1 or more"):
        AsyncSshTransport([], key, max_concurrency=0)
