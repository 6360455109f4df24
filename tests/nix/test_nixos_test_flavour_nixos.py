"""The nixos-test flavour for real: a template's test run by nixpkgs 25.05's test framework.

Needs Nix with network and KVM (the test derivation requires the `kvm` and `nixos-test`
system features), and `nixos-test` in the flavour table; run with
`NXC_TEST_NIX_ONLINE=1 pytest -m nixos tests/nix/test_nixos_test_flavour_nixos.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.nix.conftest import run_nxc

pytestmark = [pytest.mark.nix, pytest.mark.nixos]

BUILD_TIMEOUT = 3 * 3600


def test_nfs_template_runs_as_a_nixos_test(tmp_path: Path, requires_nix):
    """server, client1, client2 (rolesDistribution.client = 2) boot with nxc's modules; the
    clients read the server's NFS export by name: the template's own test script passes."""
    assert run_nxc("init", "-t", "nfs", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    composition = project / "composition.nix"
    # and nxc-node found each node's entry in the info the flavour made (NixOS-Compose's files)
    composition.write_text(
        composition.read_text().replace(
            "    start_all()\n",
            "    start_all()\n"
            '    client2.wait_for_unit("nxc-node.service")\n'
            '    client2.succeed("grep -qx client /etc/nxc/role")\n'
            "    client2.succeed(\"grep -q ' server$' /etc/nxc/deployment-hosts\")\n",
            1,
        )
    )
    result = run_nxc("build", "-f", "nixos-test", cwd=project, timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert (project / "build" / "composition::nixos-test").is_dir()
    log = (project / "build" / "composition::nixos-test.log").read_text()
    assert "nxc-node.service" in log
    for node in ("server", "client1", "client2"):
        assert f"nxc-ready {node}" in log  # each node's console, as the driver logs it


def test_a_failing_script_fails_the_build_and_names_the_log(tmp_path: Path, requires_nix):
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    composition = project / "composition.nix"
    text = composition.read_text()
    composition.write_text(text.replace('node.succeed("hello")', 'node.succeed("false")'))
    result = run_nxc("build", "-f", "nixos-test", cwd=project, timeout=BUILD_TIMEOUT)
    assert result.returncode == 1, result.stderr
    log = project / "build" / "composition::nixos-test.log"
    assert "the NixOS test composition::nixos-test failed" in result.stderr
    assert str(log) in result.stderr
    assert not (project / "build" / "composition::nixos-test").exists()
