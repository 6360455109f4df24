"""Roles that wait for roles on real NixOS (nixpkgs 25.05) VMs, where Nix has network.

By hand, in a project made by `nxc init -t basic` whose composition.nix is COMPOSITION below:

    nxc build -f vm && nxc start -f vm
    nxc run -r server -- cat /run/server-ready      # when the server's unit became active
    nxc run -r client -- cat /run/client-started    # when nxc-activate.target started the client's
    nxc stop

Run with `NXC_TEST_NIX_ONLINE=1 pytest -m nixos tests/nix/test_nixos_activation.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.manifest import RoleCheck, load
from tests.nix.conftest import run_nxc

BUILD_TIMEOUT = 3 * 3600
# pytest-timeout's 600 s default (pyproject.toml) would end a build before its own timeout
pytestmark = [pytest.mark.nix, pytest.mark.nixos, pytest.mark.timeout(BUILD_TIMEOUT + 3600)]

SERVER_DELAY = 20
"""Seconds the server's unit takes to become active after boot."""

COMPOSITION = f"""{{ pkgs, ... }}:
{{
  roles = {{
    server = {{
      systemd.services.slow-server = {{
        wantedBy = [ "multi-user.target" ];
        serviceConfig = {{ Type = "oneshot"; RemainAfterExit = true; }};
        script = "sleep {SERVER_DELAY}; date +%s.%N > /run/server-ready";
      }};
      nxc.readiness.unit = "slow-server.service";
    }};
    client = {{
      systemd.services.client-start = {{
        wantedBy = [ "nxc-activate.target" ];
        serviceConfig = {{ Type = "oneshot"; RemainAfterExit = true; }};
        script = "date +%s.%N > /run/client-started";
      }};
      nxc.after = [ "server" ];
      nxc.readiness.command = "test -e /run/client-started";
    }};
  }};
}}
"""


def stamp(project: Path, role: str, path: str) -> float:
    """The epoch time written in ``path`` on the node of ``role`` (nxc run's last word)."""
    result = run_nxc("run", "-r", role, "--", "cat", path, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return float(result.stdout.split()[-1])


def test_the_client_starts_only_after_the_server_is_ready(tmp_path: Path, requires_nix):
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    (project / "composition.nix").write_text(COMPOSITION)
    built = run_nxc("build", "-f", "vm", cwd=project, timeout=BUILD_TIMEOUT)
    assert built.returncode == 0, built.stderr
    roles = {
        role.name: role
        for role in load(project / "build" / "composition::vm" / "manifest.json")
        .compositions[0]
        .roles
    }
    assert roles["client"].after == ("server",)
    assert roles["server"].readiness == RoleCheck(unit="slow-server.service")
    started = run_nxc("start", "-f", "vm", cwd=project, timeout=3600)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        server_ready = stamp(project, "server", "/run/server-ready")
        client_started = stamp(project, "client", "/run/client-started")
        # both VMs keep this machine's clock; without the wait the client starts about
        # SERVER_DELAY s before the server is ready, so a second of skew cannot hide it
        assert client_started > server_ready - 1, (server_ready, client_started)
    finally:
        run_nxc("stop", cwd=project)
