"""``nxc bench fio`` end to end: a recorded deployment whose nodes are namespace hosts running
real sshd; fio (Debian's, shared with the host) runs on them through execo. The namespace
hosts share this machine's file system, so each writes in its own folder (``--dir .../{host}``).
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.recorded import recorded_project

ROLES = ["server", "client", "client"]

pytestmark = pytest.mark.skipif(shutil.which("fio") is None, reason="needs fio (Debian fio)")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project whose latest deployment is one server and two clients (namespace hosts)."""
    root = tmp_path_factory.mktemp("project")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ROLES, tag="bench") as project:
        yield project


def nxc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nxc", "-d", str(project), "bench", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_fio_sweep_writes_results_read_back(project: Path, tmp_path: Path) -> None:
    data, local = tmp_path / "data", tmp_path / "local"
    done = nxc(
        project, "fio", "--role", "client", "--dir", f"{data}/{{host}}",
        "--sizes", "4k,64k", "--jobs", "2", "--clients", "1,2", "--modes", "fpp,shared",
        "--size", "256k", "--repeat", "2", "--local-dir", f"{local}/{{host}}",
        "--output", "sweep",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    bench = project / "artifact" / "bench"
    json_path, csv_path = bench / "sweep.json", bench / "sweep.csv"
    assert f"results: {json_path} {csv_path}" in done.stdout
    assert f"report: {bench / 'sweep.md'}" in done.stdout
    assert "fio on demo (demo::vm::bench, client)" in done.stdout
    # 16 points x 2 repeats, on the file system and on the local disk
    assert done.stderr.count("(file system): ") == 32
    assert done.stderr.count("(local disk): ") == 32

    report = json.loads(json_path.read_text())
    assert report["tool"] == "fio" and report["role"] == "client" and report["repeat"] == 2
    assert report["label"] == "demo" and report["local_directory"] == f"{local}/{{host}}"
    results = report["results"]
    # 2 sizes x 2 client counts x 1 job count x 2 layouts x (write, read)
    assert len(results) == 16
    for result in results:
        expected_hosts = ["node2", "node3"][: result["clients"]]
        assert result["hosts"] == expected_hosts and result["repeats"] == 2
        for run in [*result["runs"], *result["local"]["runs"]]:
            assert list(run["hosts"]) == expected_hosts
            for numbers in run["hosts"].values():
                # each process moves exactly --size bytes, whatever the block size
                assert numbers["bytes"] == result["jobs"] * 256 * 1024
                assert numbers["bandwidth"] > 0 and numbers["iops"] > 0
            assert run["total"]["bytes"] == result["clients"] * result["jobs"] * 256 * 1024
        bandwidths = [run["total"]["bandwidth"] for run in result["runs"]]
        spread = result["spread"]["bandwidth"]
        assert spread["mean"] == pytest.approx(statistics.fmean(bandwidths))
        assert spread["stdev"] == pytest.approx(statistics.stdev(bandwidths))
        assert (spread["min"], spread["max"]) == (min(bandwidths), max(bandwidths))
        assert result["total"]["bandwidth"] == pytest.approx(spread["mean"])
        local_mean = statistics.fmean(r["total"]["bandwidth"] for r in result["local"]["runs"])
        assert result["fraction_of_local"]["bandwidth"] == pytest.approx(
            spread["mean"] / local_mean
        )
        iops_per_byte = result["total"]["iops"] / result["total"]["bandwidth"]
        assert iops_per_byte == pytest.approx(1 / result["block_size"], rel=0.05)
    assert [r["operation"] for r in results[:2]] == ["write", "read"]

    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 16
    assert {row["hosts"] for row in rows} == {"node2", "node2 node3"}
    assert {(row["block_size"], row["mode"]) for row in rows} == {
        ("4096", "fpp"), ("65536", "fpp"), ("4096", "shared"), ("65536", "shared"),
    }  # fmt: skip
    assert float(rows[0]["bandwidth"]) == pytest.approx(results[0]["total"]["bandwidth"])
    assert float(rows[0]["bandwidth_fraction"]) == pytest.approx(
        results[0]["fraction_of_local"]["bandwidth"]
    )
    # the sweep's files are removed at the end, on both targets; the per-host folders stay
    for folder in (data, local):
        assert sorted(p.name for p in folder.iterdir()) == ["node2", "node3"]
        assert not any((folder / "node2").iterdir())
    # block size and clients were swept: a bandwidth and an IOPS plot against each
    pngs = sorted(p.name for p in bench.glob("sweep-*.png"))
    assert pngs == [f"sweep-{m}-vs-{d}.png" for m in ("bandwidth", "iops")
                    for d in ("block_size", "clients")]  # fmt: skip
    text = (bench / "sweep.md").read_text()
    for name in pngs:
        assert f"]({name})" in text


def test_unknown_role_is_one_line(project: Path, tmp_path: Path) -> None:
    done = nxc(project, "fio", "--role", "database", "--dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "no role database in this deployment; roles: client, server" in done.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--sizes", "4q", "--sizes '4q': not a size"),
        ("--sizes", "0k", "--sizes '0k': not a size"),
        ("--jobs", "1,x", "--jobs '1,x': 'x' is not a positive integer"),
        ("--modes", "striped", "--modes: unknown mode 'striped'"),
        ("--rw", "write,trim", "--rw: unknown operation 'trim'"),
        ("--clients", "3", "--clients 3: only 2 client node(s) selected"),
    ],
)
def test_bad_sweep_values_are_one_line(
    project: Path, tmp_path: Path, option: str, value: str, message: str
) -> None:
    done = nxc(project, "fio", "--dir", str(tmp_path), option, value)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert not (project / "artifact" / "bench").exists() or not list(
        (project / "artifact" / "bench").glob(f"*{tmp_path.name}*")
    )


def test_tool_missing_on_nodes_names_it(project: Path, tmp_path: Path) -> None:
    done = nxc(project, "fio", "--dir", str(tmp_path), "--program", "fio-not-installed")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1, done.stderr
    assert "'fio-not-installed' is not installed on node2, node3" in done.stderr
    assert "environment.systemPackages" in done.stderr


def test_failing_run_names_point_and_host(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    done = nxc(project, "fio", "--dir", f"{blocker}/{{host}}", "--clients", "1", "--rw", "write")
    assert done.returncode == 1
    assert "write bs=1M clients=1 jobs=1 fpp on node2: exited with" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("tool", ["ior", "mdtest"])
def test_ior_and_mdtest_missing_on_nodes(project: Path, tmp_path: Path, tool: str) -> None:
    if shutil.which(tool) is not None:
        pytest.skip(f"{tool} is installed here (and so on the namespace hosts)")
    done = nxc(project, tool, "--dir", str(tmp_path))
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"'{tool}' is not installed on node2, node3" in done.stderr


def test_mdtest_unknown_phase_is_one_line(project: Path, tmp_path: Path) -> None:
    done = nxc(project, "mdtest", "--dir", str(tmp_path), "--rw", "create,write")
    assert done.returncode == 2
    assert "--rw: unknown operation 'write'; use create, stat, read, remove" in done.stderr
