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
