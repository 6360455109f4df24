"""Addresses, MACs and host ports for local deployments.

Each deployment gets its own ``10.S.0.0/16`` subnet (``S`` in 1..254, never 0 so that it
cannot overlap QEMU's user-mode network ``10.0.2.0/24``). Node ``i`` (0-based) gets
``10.S.(i // 254).(i % 254 + 1)``: the last octet is never 0 or 255, and one deployment holds
up to 65 024 nodes. MACs are ``52:54:00:S:HI:LO`` with ``HI:LO`` the node number, so they are
unique across deployments too.

Host ports (SSH forwards, user forwards) come from a range below the kernel's ephemeral ports
(so outgoing connections never take them), skipping ports other deployments recorded and
ports something else is listening on.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nxc.errors import ResourceLimitError

PREFIX_LENGTH = 16
NODES_PER_SUBNET = 254 * 256
PORT_RANGE = range(20000, 30000)


@dataclass(frozen=True)
class NodeAddress:
    """Where one node lives on its deployment's network."""

    address: str
    mac: str


def choose_subnet(deployment_name: str, taken: Iterable[int]) -> int:
    """Pick the second octet ``S`` of ``10.S.0.0/16`` for a deployment.

    Starts from a stable hash of the name (the same deployment gets the same subnet again)
    and skips subnets that other live deployments use.
    """
    used = set(taken)
    start = int.from_bytes(hashlib.sha256(deployment_name.encode()).digest()[:2], "big") % 254
    for offset in range(254):
        candidate = (start + offset) % 254 + 1
        if candidate not in used:
            return candidate
    raise ResourceLimitError(
        "all 254 local deployment subnets (10.1.0.0/16 to 10.254.0.0/16) are in use; "
        "stop some deployments with 'nxc stop NAME'"
    )


def node_addresses(subnet: int, count: int) -> list[NodeAddress]:
    """Addresses and MACs for ``count`` nodes in subnet ``10.subnet.0.0/16``."""
    if not 1 <= subnet <= 254:
        raise ValueError(f"subnet octet must be in 1..254, not {subnet}")
    if count > NODES_PER_SUBNET:
        raise ResourceLimitError(
            f"{count} nodes do not fit one local network (at most {NODES_PER_SUBNET}); "
            "start fewer nodes"
        )
    result = []
    for index in range(count):
        high, low = divmod(index, 254)
        number = index + 1
        result.append(
            NodeAddress(
                address=f"10.{subnet}.{high}.{low + 1}",
                mac=f"52:54:00:{subnet:02x}:{number >> 8:02x}:{number & 0xFF:02x}",
            )
        )
    return result


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a TCP port can be bound on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out free host ports, never one in ``taken`` nor one handed out before.

    ``start_offset`` spreads concurrent allocators over the range (pass a random number) so
    that two deployments starting at the same moment rarely try the same ports.
    """

    def __init__(
        self, taken: Iterable[int] = (), ports: range = PORT_RANGE, start_offset: int = 0
    ) -> None:
        self._taken = set(taken)
        self._ports = ports
        first = start_offset % len(ports)
        self._candidates: Iterator[int] = iter([*ports[first:], *ports[:first]])
        self.handed_out: list[int] = []

    def reserve(self, port: int) -> int:
        """Claim a port the user asked for; refuse it if it is taken or busy."""
        if port in self._taken or not port_is_free(port):
            raise ResourceLimitError(
                f"host port {port} is already in use; pick another one or leave it out "
                "and let nxc choose"
            )
        return self._hand_out(port)

    def allocate(self) -> int:
        """The next free port of the range."""
        for port in self._candidates:
            if port not in self._taken and port_is_free(port):
                return self._hand_out(port)
        raise ResourceLimitError(
            f"no free host port left in {self._ports.start}-{self._ports.stop - 1}; "
            "stop some deployments with 'nxc stop NAME'"
        )

    def _hand_out(self, port: int) -> int:
        self._taken.add(port)
        self.handed_out.append(port)
        return port
