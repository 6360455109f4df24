"""Addresses, MACs and host ports: unique past 254 nodes and across deployments."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from nxc import netalloc
from nxc.errors import ResourceLimitError


def test_addresses_and_macs_stay_unique_past_254_nodes() -> None:
    allocated = netalloc.node_addresses(37, 1000)
    addresses = [a.address for a in allocated]
    macs = [a.mac for a in allocated]
    assert len(set(addresses)) == 1000
    assert len(set(macs)) == 1000
    network = ipaddress.ip_network(f"10.37.0.0/{netalloc.PREFIX_LENGTH}")
    for address in addresses:
        ip = ipaddress.ip_address(address)
        assert ip in network
        assert address.rsplit(".", 1)[1] not in ("0", "255")
    assert addresses[253] == "10.37.0.254"
    assert addresses[254] == "10.37.1.1"
    assert all(mac.startswith("52:54:00:25:") for mac in macs)


def test_too_many_nodes_for_one_subnet_is_refused() -> None:
    with pytest.raises(ResourceLimitError, match="start fewer nodes"):
        netalloc.node_addresses(1, netalloc.NODES_PER_SUBNET + 1)


def test_subnet_is_stable_skips_taken_ones_and_never_overlaps_slirp() -> None:
    first = netalloc.choose_subnet("comp::vm", [])
    assert first == netalloc.choose_subnet("comp::vm", [])
    assert 1 <= first <= 254
    second = netalloc.choose_subnet("comp::vm", [first])
    assert second != first and 1 <= second <= 254
    with pytest.raises(ResourceLimitError, match="nxc stop"):
        netalloc.choose_subnet("comp::vm", range(1, 255))


def test_ports_skip_taken_and_busy_ones() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        ports = range(busy, busy + 1)
        with pytest.raises(ResourceLimitError, match="no free host port"):
            netalloc.PortAllocator(ports=ports).allocate()
        with pytest.raises(ResourceLimitError, match=f"host port {busy} is already in use"):
            netalloc.PortAllocator().reserve(busy)
    allocator = netalloc.PortAllocator(taken=[20000, 20001])
    port = allocator.allocate()
    assert port not in (20000, 20001)
    assert allocator.allocate() != port
    assert allocator.handed_out == sorted(allocator.handed_out)


def test_port_allocators_with_different_offsets_start_apart() -> None:
    a = netalloc.PortAllocator(start_offset=0).allocate()
    b = netalloc.PortAllocator(start_offset=3000).allocate()
    assert abs(a - b) >= 1000


def test_allocation_sees_other_live_vm_deployments_and_skips_broken_records(
    tmp_path: Path,
) -> None:
    from nxc.deployment import Deployment, DeploymentState, DeploymentStore
    from nxc.flavours.vm.flavour import _other_live

    store = DeploymentStore(tmp_path)
    store.save(Deployment("a", "vm", state=DeploymentState.running, resources={"subnet": 5}))
    store.save(Deployment("b", "vm", state=DeploymentState.stopped))
    store.save(Deployment("c", "docker", state=DeploymentState.running))
    (tmp_path / "broken::vm.json").write_text("{not json")
    assert [d.name for d in _other_live(store, "new::vm")] == ["a::vm"]
    assert _other_live(store, "a::vm") == []
