"""Reports and plots: real sweeps through ``nxc bench fio`` on namespace hosts running real
sshd (Debian's fio), two of them labelled as two file systems, then ``nxc bench compare``;
the PNGs are real matplotlib output, decoded again to check what they hold, and the Markdown
tables are read back and checked against the result JSON."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.bench.report import write_report
from nxc.bench.results import BenchResult, BenchRun
from nxc.bench.sweep import SweepPoint
from tests.recorded import recorded_project

pytestmark = pytest.mark.skipif(shutil.which("fio") is None, reason="needs fio (Debian fio)")

MIB = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOTS = [
    f"{m}-vs-{d}.png" for m in ("bandwidth", "iops") for d in ("block_size", "clients", "jobs")
]


def nxc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "nxc", "-d", str(project), "bench", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project with two client nodes and two finished sweeps over block size, clients and
    jobs, labelled ``nfs`` (two runs per point, local-disk baseline) and ``glusterfs`` (one
    run, no baseline)."""
    root = tmp_path_factory.mktemp("project")
    data = tmp_path_factory.mktemp("data")
    with recorded_project(root, tmp_path_factory.mktemp("nodes"), ["client", "client"]) as path:
        for label, options in (
            ("nfs", ["--repeat", "2", "--local-dir", f"{data}/local/{{host}}"]),
            ("glusterfs", ["--no-local"]),
        ):
            done = nxc(
                path, "fio", "--dir", f"{data}/{label}/{{host}}", "--sizes", "4k,64k",
                "--clients", "1,2", "--jobs", "1,2", "--size", "512k", "--label", label,
                "--output", label, *options,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        yield path


def check_png(path: Path, width: int, height: int) -> None:
    """``path`` is a PNG of that size that holds a drawing (many colours, not mostly blank)."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (width, height)
    assert len(data) > 10_000
    pixels = matplotlib.image.imread(path)[..., :3].reshape(-1, 3)
    colours = {tuple(p) for p in (pixels * 255).round().astype(int)[::7]}
    assert len(colours) > 20
    not_white = (pixels < 0.95).any(axis=1).mean()
    assert 0.02 < not_white < 0.6


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the Markdown table's body rows."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_sweep_report_embeds_its_plots_and_matches_the_json(project: Path) -> None:
    bench = project / "artifact" / "bench"
    document = json.loads((bench / "nfs.json").read_text())
    text = (bench / "nfs.md").read_text()
    for name in PLOTS:
        assert f"](nfs-{name})" in text
        check_png(bench / f"nfs-{name}", 640, 420)
    rows = table_rows(text)
    assert len(rows) == len(document["results"]) == 2 * 2 * 2 * 2
    for row, result in zip(rows, document["results"], strict=True):
        assert row[:5] == [result["operation"], {4096: "4k", 65536: "64k"}[result["block_size"]],
                           str(result["clients"]), str(result["jobs"]), "fpp"]  # fmt: skip
        spread = result["spread"]["bandwidth"]
        assert row[5] == "2"
        assert row[6:10] == [f"{spread[k] / MIB:.2f}" for k in ("mean", "stdev", "min", "max")]
        assert row[10] == f"{result['spread']['iops']['mean']:.0f}"
        assert row[12] == f"{result['local']['total']['bandwidth'] / MIB:.2f}"
        assert row[13] == f"{100 * result['fraction_of_local']['bandwidth']:.0f}%"


def test_compare_puts_file_systems_side_by_side(project: Path) -> None:
    bench = project / "artifact" / "bench"
    done = nxc(project, "compare", str(bench / "nfs.json"), str(bench / "glusterfs.json"),
               "--output", "study")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"report: {bench / 'study.md'}\n"
    text = (bench / "study.md").read_text()
    assert text.startswith("# File systems compared: nfs, glusterfs\n")
    for name in PLOTS:
        assert f"](study-{name})" in text
        # one panel per operation (write, read)
        check_png(bench / f"study-{name}", 960, 420)
    header = next(line for line in text.splitlines() if line.startswith("| op"))
    assert "| nfs MiB/s | nfs IOPS | nfs of local | glusterfs MiB/s |" in header
    results = [
        json.loads((bench / f"{n}.json").read_text())["results"] for n in ("nfs", "glusterfs")
    ]
    rows = table_rows(text)
    assert len(rows) == 16
    for row, nfs, gluster in zip(rows, *results, strict=True):
        for cells, result in ((row[5:8], nfs), (row[8:11], gluster)):
            spread = result["spread"]["bandwidth"]
            assert cells[0] == f"{spread['mean'] / MIB:.2f} ± {spread['stdev'] / MIB:.2f}"
            assert cells[1] == f"{result['total']['iops']:.0f}"
        assert row[7] == f"{100 * nfs['fraction_of_local']['bandwidth']:.0f}%"
        assert gluster["local"] is None and row[10] == "-"


def test_compare_refuses_bad_input_in_one_line(project: Path, tmp_path: Path) -> None:
    bench = project / "artifact" / "bench"
    twice = nxc(project, "compare", str(bench / "nfs.json"), str(bench / "nfs.json"))
    assert twice.returncode == 2
    assert twice.stderr.count("\n") == 1, twice.stderr
    assert "several results are named nfs; give each sweep its own --label" in twice.stderr
    (tmp_path / "notes.json").write_text("[1, 2]")
    other = nxc(project, "compare", str(tmp_path / "notes.json"))
    assert other.returncode == 2 and other.stderr.count("\n") == 1, other.stderr
    assert "not a result file of this nxc bench" in other.stderr


def test_one_value_per_dimension_makes_no_plot(tmp_path: Path) -> None:
    numbers = {"bandwidth": 2.0 * MIB, "iops": 512.0, "bytes": 1.0, "runtime": 1.0,
               "latency_mean": 0.001}  # fmt: skip
    run = BenchRun("fio", "demo::vm", "client", {"directory": "/mnt"}, label="nfs")
    run.results.append(BenchResult(SweepPoint(4096, 1, 1, "fpp", "write"), ({"a": numbers},)))
    report = write_report(run, tmp_path, "single")
    text = report.read_text()
    assert "Only one value of each dimension was swept: no plot." in text
    assert (
        "| write | 4k | 1 | 1 | fpp | 1 | 2.00 | 0.00 | 2.00 | 2.00 | 512 | 0 | - | - | - |" in text
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.md"]
