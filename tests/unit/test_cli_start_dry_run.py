"""``nxc start --dry-run`` through the real entry point (``python -m nxc`` in a subprocess)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"


@pytest.fixture
def workdir(tmp_path):
    """A scratch folder holding a copy of the bundled manifest; the command runs in it."""
    shutil.copy(FIXTURES / "cluster-vm.json", tmp_path / "manifest.json")
    return tmp_path


def run_nxc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def table(stdout: str) -> list[tuple[str, str]]:
    lines = stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("HOSTNAME")))
    return [tuple(line.split()) for line in lines[header + 1 :] if not line.startswith("then:")]


def test_prints_the_plan_and_writes_nothing(workdir):
    before = snapshot(workdir)
    result = run_nxc(workdir, "start", "--dry-run", "--manifest", "manifest.json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("composition::vm: 3 node(s) (dry run")
    assert table(result.stdout) == [("builder", "builder"), ("node1", "node"), ("node2", "node")]
    assert snapshot(workdir) == before


def test_roles_file_and_options(workdir):
    (workdir / "nodes.yaml").write_text("builder:\n  - builder\nnode:\n  - foo\n  - bar\n")
    result = run_nxc(
        workdir, "start", "--dry-run", "--manifest", "manifest.json", "nodes.yaml",
        "-r", "builder=2", "--tag", "exp1", "-f", "vm", "-t",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("composition::vm::exp1: 4 node(s)")
    assert table(result.stdout) == [
        ("builder1", "builder"),
        ("builder2", "builder"),
        ("foo", "node"),
        ("bar", "node"),
    ]
    assert "then: run the composition's test script" in result.stdout


def test_composition_option_on_a_multi_composition_manifest(tmp_path):
    manifest = str(FIXTURES / "multi-docker.json")
    result = run_nxc(tmp_path, "start", "--dry-run", "--manifest", manifest, "-c", "bar",
                     "--role", "client=c1,c2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert table(result.stdout) == [("server", "server"), ("c1", "client"), ("c2", "client")]


ROLES_FILES = {
    "empty": ("", "roles file is empty"),
    "not-yaml": ("node: [1, 2\n", "not valid YAML"),
    "list-values": ("node: [1, 2]\n", "1 is not a valid hostname"),
    "tagged": ("node: !DefaultRole 2\n", "tagged value '!DefaultRole' is not allowed"),
    "zero": ("node: 0\n", "count 0 must be at least 1"),
    "negative": ("node: -3\n", "count -3 must be at least 1"),
    "non-integer": ("node: 2.5\n", "count 2.5 is not a whole number"),
    "unknown-role": ("nodes: 2\n", "unknown role 'nodes'; did you mean 'node'?"),
    "duplicate-hostnames": ("node: [builder]\n", "hostname 'builder' of role 'node' is already"),
}


@pytest.mark.parametrize("case", ROLES_FILES, ids=list(ROLES_FILES))
def test_bad_roles_file(workdir, case):
    text, expected = ROLES_FILES[case]
    (workdir / "roles.yaml").write_text(text)
    before = snapshot(workdir)
    result = run_nxc(workdir, "start", "--dry-run", "--manifest", "manifest.json", "roles.yaml")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nxc: error: roles.yaml")
    assert expected in lines[0]
    assert snapshot(workdir) == before


OPTIONS = {
    "no-equals": ("foo", "-r foo: missing '='; write -r ROLE=COUNT"),
    "no-role": ("=3", "-r =3: missing role name before '='"),
    "non-integer": ("node=1.5", "-r node=1.5: count '1.5' is not a whole number"),
    "not-a-hostname": ("node=two.5", "-r node=two.5: 'two.5' is not a valid hostname"),
    "zero": ("node=0", "-r node=0: count 0 must be at least 1"),
    "negative": ("node=-1", "-r node=-1: count -1 must be at least 1"),
    "unknown-role": ("web=2", "-r web=2: unknown role 'web'; composition 'composition' declares"),
    "duplicate-hostnames": ("node=builder", "-r node=builder: hostname 'builder' of role 'node'"),
}


@pytest.mark.parametrize("case", OPTIONS, ids=list(OPTIONS))
def test_bad_role_option(workdir, case):
    option, expected = OPTIONS[case]
    before = snapshot(workdir)
    result = run_nxc(workdir, "start", "--dry-run", "--manifest", "manifest.json", "-r", option)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"nxc: error: {expected}")
    assert snapshot(workdir) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--manifest", "absent.json"], "absent.json: build manifest not found"),
        (["--manifest", "manifest.json", "-f", "qemu"], "-f/--flavour: unknown flavour 'qemu'"),
        (["--manifest", "manifest.json", "-f", "docker"], "built for flavour vm, not docker"),
        (["--manifest", "manifest.json", "--tag", "a/b"], "--tag a/b: a tag is"),
        (["--manifest", "manifest.json", "-c", "other"], "no composition 'other'"),
        (["--manifest", "manifest.json", "missing.yaml"], "missing.yaml: roles file not found"),
        ([], "--dry-run needs --manifest PATH"),
    ],
)
def test_other_bad_input(workdir, args, expected):
    result = run_nxc(workdir, "start", "--dry-run", *args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert expected in result.stderr


def test_newer_manifest_asks_for_an_upgrade(workdir):
    path = workdir / "manifest.json"
    path.write_text(path.read_text().replace('"nxc_manifest": 1', '"nxc_manifest": 7'))
    result = run_nxc(workdir, "start", "--dry-run", "--manifest", "manifest.json")
    assert result.returncode == 2
    assert "built by a newer nxc (manifest schema 7" in result.stderr
    assert "upgrade nxc" in result.stderr


def test_launch_refuses_a_manifest_whose_artefacts_are_gone(workdir):
    """The bundled manifest names store paths that do not exist here: refused before launch."""
    (workdir / "flake.nix").write_text("{ outputs = _: { }; }\n")
    before = snapshot(workdir)
    result = run_nxc(workdir, "start", "--manifest", "manifest.json")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "does not exist" in result.stderr and "nxc build -f vm" in result.stderr
    assert snapshot(workdir) == before


def test_start_is_listed_in_help(workdir):
    result = run_nxc(workdir, "--help")
    assert result.returncode == 0
    assert "start" in result.stdout
