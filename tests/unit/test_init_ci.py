"""``nxc init --ci``: the project gets a hosted-CI workflow that builds and runs its test script.

The workflows only run on a hosted CI service with Nix and KVM; here they are checked for what
a service reads from them (valid YAML, the one command) and for what ``nxc init`` promises.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.nix.conftest import run_nxc

COMMAND = "nix develop --command sh -c 'nxc build -f vm && nxc start -t --junit-xml report.xml'"


def _init(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_nxc("init", *args, cwd=cwd)


@pytest.mark.parametrize(
    ("service", "path"), [("github", ".github/workflows/nxc.yml"), ("gitlab", ".gitlab-ci.yml")]
)
def test_ci_workflow_runs_build_then_start_t(tmp_path: Path, service: str, path: str):
    result = _init("--ci", service, "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"added {path}" in result.stdout
    assert "local path, which CI cannot fetch" in result.stderr
    workflow = yaml.safe_load((tmp_path / "p" / path).read_text())
    if service == "github":
        steps = workflow["jobs"]["test"]["steps"]
        commands = [step["run"] for step in steps if "run" in step]
    else:
        commands = workflow["nxc"]["script"]
    assert COMMAND in commands
    assert (tmp_path / "p" / "composition.nix").is_file()


def test_fetchable_nxc_url_gives_no_warning(tmp_path: Path):
    result = _init("--ci", "gitlab", "--nxc-url", "github:example/nxc", "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_unknown_ci_service_writes_nothing(tmp_path: Path):
    result = _init("--ci", "jenkins", "p", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr
        == "nxc: error: --ci jenkins: unknown CI service; use one of: github, gitlab\n"
    )
    assert not (tmp_path / "p").exists()


def test_existing_workflow_is_kept(tmp_path: Path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / ".gitlab-ci.yml").write_text("mine\n")
    result = _init("--ci", "gitlab", "p", cwd=tmp_path)
    assert result.returncode == 2
    assert ".gitlab-ci.yml already exists" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "p" / ".gitlab-ci.yml").read_text() == "mine\n"
