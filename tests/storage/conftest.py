"""Fixtures for the storage compositions' real-daemon tests (marker ``storage``)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from nxc.bench.fio import FioSettings, fio_command, parse_fio_json
from nxc.bench.sweep import SweepPoint
from nxc.keys import generate_keypair
from tests.storage.nodes import StorageNode, started_nodes

REPO = Path(__file__).resolve().parents[2]
COMPOSITIONS = REPO / "compositions"

StartNodes = Callable[..., list[StorageNode]]
"""``start(roles, parameters=None)``: the nodes, with the deploy-time parameters in their info."""


def need(*programs: str) -> None:
    """Skip unless every program is installed (the test bed's Debian packages)."""
    missing = [p for p in programs if shutil.which(p) is None and not Path(p).exists()]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (see ../shared/TESTBED.md)")


@pytest.fixture
def storage_nodes(tmp_path: Path) -> Iterator[StartNodes]:
    """Start nodes named after roles (``[("server", 3), ("client", 2)]``), each with the
    deployment info in its own ``/run/nxc``; everything they ran is killed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network and mount namespaces)")
    need("nsenter", "unshare", "ip", "jq")
    with ExitStack() as started:

        def start(
            roles: list[tuple[str, int]], parameters: dict[str, str] | None = None
        ) -> list[StorageNode]:
            key = generate_keypair("storage-test").public_line
            nodes = started_nodes(tmp_path / "hosts", roles, key, parameters)
            return started.enter_context(nodes)

        yield start


def fio_on_clients(clients: list[StorageNode], mount: str = "/mnt/fs") -> None:
    """Run the fio command nxc's bench module builds for one sweep point on every client (one
    folder per client on the shared mount), check its parsed totals and that each client sees
    the others' files."""
    settings = FioSettings(directory=f"{mount}/{{host}}", size=4 * 1024 * 1024)
    point = SweepPoint(
        block_size=1024 * 1024, clients=len(clients), jobs=2, mode="fpp", operation="write"
    )
    for index, client in enumerate(clients):
        output = client.succeed(fio_command(settings, point, client.hostname, index))
        result = parse_fio_json(output, client.hostname)
        assert result["bytes"] == point.jobs * settings.size
        assert result["bandwidth"] > 0
    for client in clients:
        for other in clients:
            assert "nxc-fio" in client.succeed(f"ls {mount}/{other.hostname}")
