"""Nodes added to and removed from a running deployment of real NixOS (nixpkgs 25.05) VMs,
where Nix has network: every node's /etc/hosts follows, and a unit wanted by
nxc-hosts-changed.service runs on each change (nxc/nix/modules/base.nix, docs/elastic.md).

By hand, in a project made by `nxc init -t basic` whose composition.nix is COMPOSITION below:

    nxc build -f vm && nxc start -f vm -r node=2
    nxc start -f vm --add -r node=1                      # node3
    nxc run node1 -- cat /etc/hosts /run/hosts-changes   # node3 listed; one change seen
    nxc stop --node node2
    nxc run node1 -- cat /etc/hosts /run/hosts-changes   # node2 gone; two changes seen
    nxc stop

Run with `NXC_TEST_NIX_ONLINE=1 pytest -m nixos tests/nix/test_nixos_elastic.py`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.nix.conftest import run_nxc

BUILD_TIMEOUT = 3 * 3600
# pytest-timeout's 600 s default (pyproject.toml) would end a build before its own timeout
pytestmark = [pytest.mark.nix, pytest.mark.nixos, pytest.mark.timeout(BUILD_TIMEOUT + 3600)]

COMPOSITION = """{ pkgs, ... }:
{
  roles.node = {
    systemd.services.count-hosts = {
      wantedBy = [ "nxc-hosts-changed.service" ];
      after = [ "nxc-hosts-changed.service" ];
      serviceConfig.Type = "oneshot";
      script = "wc -l < /etc/nxc/deployment-hosts >> /run/hosts-changes";
    };
  };
}
"""


def on_node1(project: Path, command: str) -> list[str]:
    """The lines ``command`` prints on node1 (nxc run prefixes them with 'node1 | ')."""
    result = run_nxc("run", "node1", "--", command, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split("|", 1)[1].strip() for line in result.stdout.splitlines() if "|" in line]


def changes_seen(project: Path, expected: list[str]) -> list[str]:
    """The host counts node1's hook wrote, once they are ``expected`` (within 60 s: the hook
    starts without nxc-hosts-update waiting for it)."""
    deadline = time.monotonic() + 60
    while True:
        counts = on_node1(project, "cat /run/hosts-changes 2>/dev/null; true")
        if counts == expected or time.monotonic() > deadline:
            return counts
        time.sleep(2)


def listed(project: Path) -> list[str]:
    """The hostnames node1's /etc/hosts lists."""
    lines = on_node1(project, "cat /etc/hosts")
    return [line.split()[-1] for line in lines if "localhost" not in line and line.split()]


def test_every_node_follows_nodes_added_and_removed(tmp_path: Path, requires_nix):
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    (project / "composition.nix").write_text(COMPOSITION)
    built = run_nxc("build", "-f", "vm", cwd=project, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stderr
    started = run_nxc("start", "-f", "vm", "-r", "node=2", cwd=project, timeout=3600)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        added = run_nxc("start", "-f", "vm", "--add", "-r", "node=1", cwd=project, timeout=3600)
        assert added.returncode == 0, added.stdout + added.stderr
        assert listed(project) == ["node1", "node2", "node3"]
        assert on_node1(project, "ping -c3 -W5 node3 > /dev/null && echo reached") == ["reached"]
        assert changes_seen(project, ["3"]) == ["3"]
        removed = run_nxc("stop", "--node", "node2", cwd=project, timeout=600)
        assert removed.returncode == 0, removed.stdout + removed.stderr
        assert listed(project) == ["node1", "node3"]
        assert changes_seen(project, ["3", "2"]) == ["3", "2"]
    finally:
        run_nxc("stop", cwd=project)
