"""``nxc status --journal`` and ``nxc export`` through the real command line (a subprocess
each), on a project folder with a real record, journal, flake.lock and build manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node
from nxc.journal import (
    CommandEvent,
    Journal,
    NodesAdded,
    NodesFailed,
    PhaseEvent,
    ProvenanceEvent,
)
from nxc.provenance import collect

REV = "1f08a4df998e21f4e8be8fb6fbf61d11a1a5076a"
NAME = "composition::vm"


def nxc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nxc: error: ")
    return lines[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with a flake.lock, a build manifest and a running vm deployment's record."""
    root = tmp_path / "proj"
    (root / "build").mkdir(parents=True)
    (root / "flake.nix").write_text("{ outputs = { self }: { }; }\n")
    lock = {
        "nodes": {
            "nixpkgs": {
                "locked": {
                    "lastModified": 1753749649,
                    "narHash": "sha256-abc=",
                    "owner": "NixOS",
                    "repo": "nixpkgs",
                    "rev": REV,
                    "type": "github",
                }
            },
            "nxc": {"inputs": {"nixpkgs": "nixpkgs"}, "locked": {"type": "path", "path": "/n"}},
            "root": {"inputs": {"nixpkgs": ["nxc", "nixpkgs"], "nxc": "nxc"}},
        },
        "root": "root",
        "version": 7,
    }
    (root / "flake.lock").write_text(json.dumps(lock))
    system = "/nix/store/" + "b" * 32 + "-nixos-system-node"
    manifest = {
        "nxc_manifest": 1,
        "flavour": "vm",
        "system": "x86_64-linux",
        "compositions": {
            "composition": {
                "roles": {"node": {"system": system}},
                "artefacts": {"kernel": "/nix/store/k/bzImage", "initrd": "/nix/store/i/initrd"},
            }
        },
    }
    manifest_path = root / "build" / "composition::vm.json"
    manifest_path.write_text(json.dumps(manifest))
    nodes = [Node(f"node{i}", "node", f"10.0.0.{i}", "127.0.0.1", 2200 + i) for i in (1, 2)]
    deployment = Deployment(
        "composition",
        "vm",
        nodes=nodes,
        manifest=str(manifest_path),
        state=DeploymentState.running,
    )
    DeploymentStore(root / "deploy").save(deployment)
    return root


def journal(root: Path) -> Journal:
    return Journal(DeploymentStore(root / "deploy"), NAME)


def test_status_journal_prints_one_event_a_line(project):
    target = journal(project)
    target.append(CommandEvent(argv=["nxc", "start", "-r", "node=2"], cwd="/p", user="u", pid=7))
    target.append(PhaseEvent(name="boot", seconds=12.25))
    target.append(NodesAdded(hostnames=["node1", "node2"]))
    target.append(NodesFailed(reasons={"node2": "no SSH after 300 s"}))
    result = nxc(project, "status", NAME, "--journal")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    assert [line.split()[1] for line in lines] == [
        "command",
        "phase",
        "nodes_added",
        "nodes_failed",
    ]
    assert lines[0].split()[0].endswith("Z")
    assert lines[0].endswith("nxc start -r node=2 (user u, pid 7, in /p)")
    assert lines[1].endswith("boot 12.250 s")
    assert lines[3].endswith("node2: no SSH after 300 s")

    as_json = nxc(project, "status", NAME, "--journal", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert [event["kind"] for event in json.loads(as_json.stdout)][1:3] == [
        "phase",
        "nodes_added",
    ]


def test_status_journal_notes_a_torn_line_and_refuses_a_corrupt_one(project):
    target = journal(project)
    target.append(NodesAdded(hostnames=["node1"]))
    with target.path.open("a") as file:
        file.write('{"kind": "nodes_added", "ti')
    result = nxc(project, "status", NAME, "--journal")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert "line 2 is incomplete" in result.stderr and str(target.path) in result.stderr

    with target.path.open("a") as file:
        file.write("\n")  # the torn line now ends: a corrupted line, no longer the tail
    target.path.write_text(target.path.read_text() + target.path.read_text().splitlines()[0] + "\n")
    line = one_error_line(nxc(project, "status", NAME, "--journal"))
    assert str(target.path) in line and "line 2 is not JSON" in line


def test_status_journal_errors(project):
    line = one_error_line(nxc(project, "status", NAME, "--journal"))
    assert "no journal for 'composition::vm'" in line
    line = one_error_line(nxc(project, "status", "--journal"))
    assert "give its NAME" in line


def test_export_gathers_now_when_the_journal_has_no_provenance(project):
    result = nxc(project, "export")
    assert result.returncode == 0, result.stderr
    written = project / "artifact" / f"{NAME}.provenance.json"
    assert f"to {written} (gathered now" in result.stdout
    provenance = json.loads(written.read_text())
    assert provenance["nixpkgs"]["rev"] == REV  # root's nixpkgs follows nxc/nixpkgs
    assert provenance["nixpkgs"]["node"] == "nixpkgs"
    systems = provenance["manifest"]["compositions"]["composition"]["systems"]
    assert systems["node"].endswith("-nixos-system-node")
    assert [node["hostname"] for node in provenance["platform"]["nodes"]] == ["node1", "node2"]

    markdown = project / "appendix.md"
    result = nxc(project, "export", NAME, "-o", str(markdown), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    text = markdown.read_text()
    assert text.startswith(f"## Provenance of deployment `{NAME}`")
    assert f"rev `{REV}`" in text and "| composition | role `node` |" in text
    assert list(project.glob(".appendix.md.*")) == []  # no temporary file left behind


def test_export_prefers_the_journalled_provenance(project):
    store = DeploymentStore(project / "deploy")
    recorded = collect(project, store.load(NAME), kernel_params=["quiet"])
    recorded["nxc_version"] = "0.0.1-at-start"
    journal(project).append(ProvenanceEvent(provenance=recorded))
    (project / "flake.lock").unlink()  # what the project says now does not matter
    result = nxc(project, "export", NAME, "-o", "-")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == recorded


def test_export_errors_are_one_line(project):
    line = one_error_line(nxc(project, "export", "other::vm"))
    assert "no deployment 'other::vm'" in line
    line = one_error_line(nxc(project, "export", "-o", str(project / "missing" / "p.json")))
    assert "does not exist" in line
    (project / "flake.lock").write_text("{ broken")
    line = one_error_line(nxc(project, "export"))
    assert "flake.lock: cannot read the lock file" in line
    assert not (project / "artifact" / f"{NAME}.provenance.json").exists()
