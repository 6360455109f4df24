"""nxc.fanout: per-host results and node selection (pure Python)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from nxc.errors import InputError, TransportError
from nxc.fanout import HostResult, fan_out, select_nodes


@dataclass
class FakeNode:
    hostname: str
    role: str


NODES = [FakeNode("server", "server"), FakeNode("client1", "client"), FakeNode("client2", "client")]


def test_select_by_role_and_host_keeps_deployment_order() -> None:
    picked = select_nodes(NODES, roles=["client"], hosts=["server"])
    assert [node.hostname for node in picked] == ["server", "client1", "client2"]
    assert [n.hostname for n in select_nodes(NODES, hosts=["client2"])] == ["client2"]
    assert select_nodes(NODES) == NODES


def test_select_unknown_names_lists_what_exists() -> None:
    with pytest.raises(InputError, match="no role db in this deployment; roles: client, server"):
        select_nodes(NODES, roles=["db"])
    with pytest.raises(InputError, match=r"no node client9 .*nodes: server, client1, client2"):
        select_nodes(NODES, hosts=["client9"])


def test_fan_out_turns_exceptions_into_results_and_keeps_order() -> None:
    async def operation(host: str) -> HostResult:
        if host == "b":
            raise TransportError("b unreachable")
        if host == "c":
            raise ValueError("bug")
        await asyncio.sleep(0.01 if host == "a" else 0)
        return HostResult(host, exit_status=0)

    result = asyncio.run(fan_out(["a", "b", "c", "d"], operation))
    assert [r.host for r in result] == ["a", "b", "c", "d"]
    assert [r.host for r in result.succeeded] == ["a", "d"]
    assert result["b"].error == "b unreachable"
    assert result["c"].error == "ValueError: bug"
    assert result.summary() == "2/4 failed: b (b unreachable), c (ValueError: bug)"
    with pytest.raises(TransportError, match=r"^2/4 failed"):
        result.check()
