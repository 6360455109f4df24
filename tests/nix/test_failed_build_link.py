"""A failed ``nxc build`` leaves no result link, so ``nxc start`` cannot pick an older build.

Real nix on the fixture project: one build that succeeds, then one that fails.
"""

from __future__ import annotations

import pytest

from tests.nix.conftest import run_nxc


@pytest.mark.nix
def test_a_failed_build_removes_the_result_link(fixture_project):
    assert run_nxc("build", "-f", "vm", cwd=fixture_project).returncode == 0
    link = fixture_project / "build" / "composition::vm"
    assert (link / "manifest.json").is_file()
    (fixture_project / "composition.nix").write_text("{ roles.a = { }; testScript = 1 + ; }")
    failed = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert not link.is_symlink() and not link.exists()
    start = run_nxc("start", cwd=fixture_project)
    assert start.returncode == 2 and "no build" in start.stderr, start.stderr
