"""The test-bed fixture project built by the real CLI and real Nix (no VM): what the seam
(tests/fixtures/testbed/seam.nix) makes of the composition, and its bad input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import build_manifest, run_nxc, sha256


@pytest.mark.nix
def test_build_turns_the_role_module_into_a_guest_system(testbed_project: Path) -> None:
    """The vm manifest boots the prepared guest, and the role system starts the service."""
    manifest = build_manifest(testbed_project)
    guest = testbed_project / "guest"
    composition = manifest["compositions"]["composition"]

    artefacts = composition["artefacts"]
    for name, built in (("vmlinuz", artefacts["kernel"]), ("initrd", artefacts["initrd"])):
        assert built.startswith("/nix/store/")
        assert sha256(Path(built)) == sha256(guest / name)
    assert artefacts["cmdline"] == json.loads((guest / "testbed.json").read_text())["kernel_params"]

    system = Path(composition["roles"]["node"]["system"])
    start = system / "bin" / "nxc-role-start"
    assert os.access(start, os.X_OK)
    assert (system / "services").read_text().split() == ["hostname-web"]
    launched = [
        line.split()[-1] for line in start.read_text().splitlines() if line.startswith("launch ")
    ]
    assert len(launched) == 1
    service = Path(launched[0]).read_text()
    assert service.startswith("#!/bin/sh\n")
    assert "exec httpd -f -p 80 -h /srv/www" in service
    assert "wait_for_open_port(80" in composition["test_script"]


@pytest.mark.nix
def test_build_without_the_guest_says_how_to_prepare(testbed_project: Path) -> None:
    """Bad input: the fixture used without its guest fails with one line naming prepare.sh."""
    shutil.rmtree(testbed_project / "guest")
    result = run_nxc("build", "-f", "vm", cwd=testbed_project, timeout=600)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [
        "nxc: error: test-bed fixture: ./guest/testbed.json is missing; "
        "build the guest first: tests/fixtures/testbed/prepare.sh"
    ]
    assert "Traceback" not in result.stderr


SEAM_COMPOSITION = """
{ pkgs, ... }:
{
  roles.node = { config, pkgs, ... }: {
    imports = [ ./extra.nix ];
    environment.systemPackages = [ (pkgs.writeText "not-a-bin" "x") ];
    systemd.services.with-env = {
      environment.GREETING = "it's here";
      preStart = "echo pre";
      script = "echo $GREETING ${toString (builtins.length config.environment.systemPackages)}";
    };
    systemd.services.exec-start.serviceConfig.ExecStart = "/bin/true --flag";
    systemd.services.disabled = { enable = false; script = "exit 1"; };
  };
}
"""

SEAM_EXTRA = """
{ pkgs, ... }: { environment.systemPackages = [ (pkgs.writeText "second" "y") ]; }
"""


@pytest.mark.nix
def test_seam_reads_role_modules_like_the_module_system(testbed_project: Path) -> None:
    """imports, config, enable, environment, preStart, ExecStart, systemPackages on PATH."""
    (testbed_project / "composition.nix").write_text(SEAM_COMPOSITION)
    (testbed_project / "extra.nix").write_text(SEAM_EXTRA)
    manifest = build_manifest(testbed_project)
    system = Path(manifest["compositions"]["composition"]["roles"]["node"]["system"])

    assert (system / "services").read_text().split() == ["exec-start", "with-env"]
    packages = sorted(link.name for link in (system / "sw").iterdir())
    assert len(packages) == 2 and packages[0].endswith("-not-a-bin")
    start = (system / "bin" / "nxc-role-start").read_text()
    scripts = dict(line.split()[1:] for line in start.splitlines() if line.startswith("launch "))
    assert sorted(scripts) == ["exec-start", "with-env"]

    with_env = Path(scripts["with-env"]).read_text()
    assert "export GREETING='it'\\''s here'" in with_env
    assert with_env.index("echo pre") < with_env.index("echo $GREETING 2")
    path_line = next(line for line in with_env.splitlines() if line.startswith("export PATH="))
    for link in (system / "sw").iterdir():
        assert f"{link.resolve()}/bin" in path_line
    assert "exec /bin/true --flag" in Path(scripts["exec-start"]).read_text()


@pytest.mark.nix
def test_service_without_a_command_is_named(testbed_project: Path) -> None:
    """Bad input: a service with neither script nor ExecStart fails with its name and role."""
    (testbed_project / "composition.nix").write_text(
        "{ ... }: { roles.node = { systemd.services.empty.wantedBy = [ ]; }; }\n"
    )
    result = run_nxc("build", "-f", "vm", cwd=testbed_project, timeout=600)
    assert result.returncode == 2
    assert (
        "systemd.services.empty of role 'node' has neither `script` nor "
        "`serviceConfig.ExecStart`" in result.stderr
    )
    assert "Traceback" not in result.stderr
