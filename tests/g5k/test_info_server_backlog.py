"""The info server queues as many connections as a large deployment opens at once.

socketserver listens with a backlog of 5, so hundreds of nodes fetching their info at boot
waited out SYN retransmissions (benchmarks/infoserver_load.py measures it). The real server
process is started and the kernel's view of its listening socket is read with ``ss``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nxc.infoserver import LISTEN_BACKLOG, start_info_server, stop_recorded


def test_the_listening_socket_queues_a_large_deployment(tmp_path):
    if shutil.which("ss") is None:
        pytest.skip("needs ss (iproute2)")
    info = tmp_path / "info.json"
    info.write_text("{}")
    server = start_info_server(info, "127.0.0.1", tmp_path / "server.log")
    try:
        listening = subprocess.run(
            ["ss", "-ltnH", f"sport = :{server.port}"], capture_output=True, text=True, check=True
        ).stdout.split()
    finally:
        stop_recorded(server.to_record(), grace=1)
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    # for a listening socket, ss's Send-Q column is the backlog it was given (capped by the kernel)
    assert int(listening[2]) == min(LISTEN_BACKLOG, somaxconn) > 5
