"""Sweeps, fio/IOR/mdtest command lines and output parsing, result files (no nodes needed).

fio's JSON comes from real fio runs on this machine (Debian fio); IOR and mdtest are not
packaged here, so their parsers read summaries written in the layout IOR 3.x and its mdtest
print, with numbers chosen by the test.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from nxc.bench.fio import FioSettings, fio_command, parse_fio_json
from nxc.bench.ior import IorSettings, ior_command, parse_ior_output
from nxc.bench.mdtest import MdtestSettings, mdtest_command, parse_mdtest_output
from nxc.bench.results import BenchResult, BenchRun, load_results, write_results
from nxc.bench.sweep import SweepPoint, SweepSpec, format_size, parse_size
from nxc.cli.bench import default_label, default_stem
from nxc.errors import InputError, TransportError


@pytest.mark.parametrize(
    ("text", "size"),
    [("512", 512), ("4k", 4096), ("4K", 4096), ("1M", 1 << 20), ("2GiB", 2 << 30), ("1t", 1 << 40)],
)
def test_sizes_round_trip(text: str, size: int) -> None:
    assert parse_size(text, "--sizes") == size
    assert parse_size(format_size(size), "--sizes") == size


def test_points_are_the_product_with_writes_before_reads() -> None:
    spec = SweepSpec.parse("4k,1M", "1,4", "1,2", "fpp,shared", "write,read")
    points = spec.points(available_clients=3)
    assert len(points) == 2 * 2 * 2 * 2 * 2
    assert points[0] == SweepPoint(4096, 1, 1, "fpp", "write")
    assert points[1] == SweepPoint(4096, 1, 1, "fpp", "read")
    assert {p.clients for p in SweepSpec.parse("4k").points(3)} == {3}


def test_more_clients_than_nodes_is_input_error() -> None:
    with pytest.raises(InputError, match="--clients 5: only 2 client node"):
        SweepSpec.parse("4k", clients="1,5").points(2)


needs_fio = pytest.mark.skipif(shutil.which("fio") is None, reason="needs fio (Debian fio)")


def _run_here(command: str) -> str:
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_fio
@pytest.mark.parametrize("mode", ["fpp", "shared"])
def test_fio_command_runs_and_parses(tmp_path: Path, mode: str) -> None:
    settings = FioSettings(directory=f"{tmp_path}/{{host}}", size=128 * 1024)
    point = SweepPoint(16 * 1024, clients=2, jobs=2, mode=mode, operation="write")
    numbers = parse_fio_json(_run_here(fio_command(settings, point, "node7", 1)), "here")
    assert numbers["bytes"] == 2 * 128 * 1024
    assert numbers["iops"] / numbers["bandwidth"] == pytest.approx(1 / (16 * 1024), rel=0.05)
    assert numbers["runtime"] >= 0 and numbers["latency_mean"] > 0
    written = sorted(p.name for p in (tmp_path / "node7").iterdir())
    if mode == "shared":
        # second client: its two jobs write after the first client's two
        assert written == ["nxc-fio-shared"]
        assert (tmp_path / "node7" / "nxc-fio-shared").stat().st_size == 4 * 128 * 1024
    else:
        assert written == ["nxc-fio-node7.0.0", "nxc-fio-node7.1.0"]


def test_fio_output_errors_name_the_run() -> None:
    with pytest.raises(TransportError, match="write on node1: fio's output is not JSON"):
        parse_fio_json("fio: some note\n{ not json", "write on node1")
    with pytest.raises(TransportError, match="no job results"):
        parse_fio_json('{"jobs": []}', "write on node1")


def test_directory_with_spaces_is_quoted() -> None:
    settings = FioSettings(directory="/mnt/my fs/{host}")
    command = fio_command(settings, SweepPoint(4096, 1, 1, "fpp", "read"), "node1", 0)
    assert shlex.split(command)[:3] == ["mkdir", "-p", "/mnt/my fs/node1"]
    assert "--directory=/mnt/my fs/node1" in shlex.split(command)


IOR_SUMMARY = """\
Summary of all tests:
Operation   Max(MiB)   Min(MiB)  Mean(MiB)     StdDev   Max(OPs)   Min(OPs)  Mean(OPs)     StdDev    Mean(s) Stonewall(s) Stonewall(MiB) Test# #Tasks tPN reps fPP reord reordoff reordrand seed segcnt   blksiz    xsize aggs(MiB)   API RefNum
write         {w:.2f}     {w:.2f}     {w:.2f}       0.00     {wo:.2f}     {wo:.2f}     {wo:.2f}       0.00    {ws:.5f}         NA            NA     0      4   4    1   1     0        1         0    0      1 16777216  1048576      64.0 POSIX      0
read          {r:.2f}     {r:.2f}     {r:.2f}       0.00     {ro:.2f}     {ro:.2f}     {ro:.2f}       0.00    {rs:.5f}         NA            NA     0      4   4    1   1     0        1         0    0      1 16777216  1048576      64.0 POSIX      0

Finished            : Mon Nov 23 21:00:00 2026
"""


def test_ior_summary_rows_are_read_per_operation() -> None:
    text = IOR_SUMMARY.format(w=640.0, wo=640.0, ws=0.1, r=1280.0, ro=1280.0, rs=0.05)
    write = parse_ior_output(text, "write", "here")
    read = parse_ior_output(text, "read", "here")
    assert write["bandwidth"] == 640 * 1024 * 1024 and write["iops"] == 640.0
    assert write["bytes"] == pytest.approx(64 * 1024 * 1024)
    assert read["runtime"] == 0.05 and read["bandwidth"] == 2 * write["bandwidth"]
    with pytest.raises(TransportError, match="no 'Summary of all tests'"):
        parse_ior_output("ior: cannot open file", "write", "here")


def test_ior_command_layouts_and_ranks() -> None:
    settings = IorSettings(directory="/mnt/fs/{host}", size=1 << 20)
    one = shlex.split(ior_command(settings, SweepPoint(4096, 1, 1, "fpp", "write"), "node1"))
    assert one[4:] == ["ior", "-a", "POSIX", "-w", "-k", "-t", "4096", "-b", "1048576",
                       "-o", "/mnt/fs/node1/nxc-ior.dat", "-F"]  # fmt: skip
    many = shlex.split(ior_command(settings, SweepPoint(4096, 1, 4, "shared", "read"), "node1"))
    assert many[4:9] == ["mpirun", "--allow-run-as-root", "-np", "4", "ior"]
    assert "-F" not in many and "-r" in many


def test_results_files_round_trip(tmp_path: Path) -> None:
    run = BenchRun("fio", "demo::vm", "client", {"directory": "/mnt/fs"}, repeat=2,
                   label="nfs", local_directory="/tmp/{host}")  # fmt: skip
    numbers = {"bandwidth": 100.0, "iops": 10.0, "bytes": 1000.0, "runtime": 2.0,
               "latency_mean": 0.1}  # fmt: skip
    slower = {**numbers, "bandwidth": 50.0, "runtime": 4.0, "latency_mean": 0.3}
    faster = {**numbers, "bandwidth": 250.0}
    local = {**numbers, "bandwidth": 500.0}
    run.results.append(
        BenchResult(
            SweepPoint(4096, 2, 1, "fpp", "write"),
            ({"a": numbers, "b": slower}, {"a": faster, "b": slower}),
            ({"a": local, "b": local}, {"a": local, "b": local}),
        )
    )
    json_path, csv_path = write_results(run, tmp_path / "bench", "out")
    document = json.loads(json_path.read_text())
    [result] = document["results"]
    assert result["runs"][0]["total"] == {
        "bandwidth": 150.0, "iops": 20.0, "bytes": 2000.0, "runtime": 4.0,
        "latency_mean": pytest.approx(0.2),
    }  # fmt: skip
    # totals per run 150 and 300: mean 225, sample stdev 106.07; local 1000 per run
    assert result["total"]["bandwidth"] == 225.0
    assert result["spread"]["bandwidth"] == {
        "mean": 225.0, "stdev": pytest.approx(106.066, abs=1e-3), "min": 150.0, "max": 300.0,
    }  # fmt: skip
    assert result["spread"]["iops"]["stdev"] == 0.0
    assert result["fraction_of_local"] == {"bandwidth": 0.225, "iops": 1.0}
    [row] = list(csv.DictReader(csv_path.open()))
    assert row["hosts"] == "a b" and float(row["bandwidth"]) == 225.0
    assert float(row["bandwidth_max"]) == 300.0 and float(row["local_bandwidth"]) == 1000.0
    assert row["repeats"] == "2" and float(row["bandwidth_fraction"]) == 0.225
    assert sorted(p.name for p in (tmp_path / "bench").iterdir()) == ["out.csv", "out.json"]
    # read back: the same run
    again = load_results(json_path)
    assert again.as_dict() == run.as_dict()
    assert again.name == "nfs"


def test_result_files_of_another_kind_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such result file"):
        load_results(tmp_path / "missing.json")
    (tmp_path / "old.json").write_text('{"tool": "fio", "results": []}')
    with pytest.raises(InputError, match="not a result file of this nxc bench"):
        load_results(tmp_path / "old.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="not a result file of nxc bench"):
        load_results(tmp_path / "bad.json")


MDTEST_SUMMARY = """\
SUMMARY rate: (of 1 iterations)
   Operation                     Max            Min           Mean        Std Dev
   ---------                     ---            ---           ----        -------
   File creation             :       {c:.3f}       {c:.3f}       {c:.3f}          0.000
   File stat                 :       {s:.3f}       {s:.3f}       {s:.3f}          0.000
   File read                 :          0.000          0.000          0.000          0.000
   File removal              :       {r:.3f}       {r:.3f}       {r:.3f}          0.000
   Tree creation             :        100.000        100.000        100.000          0.000
   Tree removal              :         50.000         50.000         50.000          0.000
SUMMARY time: (of 1 iterations)
   File creation             :          0.500          0.500          0.500          0.000
"""


def test_mdtest_summary_rates_per_phase() -> None:
    text = MDTEST_SUMMARY.format(c=2000.0, s=8000.0, r=4000.0)
    create = parse_mdtest_output(text, "create", 1000, "here")
    assert create["iops"] == 2000.0 and create["runtime"] == 0.5
    assert parse_mdtest_output(text, "remove", 1000, "here")["latency_mean"] == 1 / 4000
    assert parse_mdtest_output(text, "read", 1000, "here")["runtime"] == 0.0
    with pytest.raises(TransportError, match="no SUMMARY table"):
        parse_mdtest_output("mdtest: mpi failure", "create", 10, "here")


def test_mdtest_command_one_phase_per_operation() -> None:
    settings = MdtestSettings(directory="/mnt/fs", files=10)
    create = shlex.split(mdtest_command(settings, SweepPoint(4096, 1, 1, "fpp", "create"), "n1"))
    assert create[4:] == ["mdtest", "-F", "-n", "10", "-w", "4096", "-e", "4096",
                          "-d", "/mnt/fs/nxc-mdtest", "-C", "-u"]  # fmt: skip
    stat = shlex.split(mdtest_command(settings, SweepPoint(4096, 1, 2, "shared", "stat"), "n1"))
    assert stat[4:9] == ["mpirun", "--allow-run-as-root", "-np", "2", "mdtest"]
    assert "-T" in stat and "-u" not in stat


def test_default_names_are_stable_and_name_the_file_system(tmp_path: Path) -> None:
    assert default_stem("fio", "composition::vm::big run") == "fio-composition-vm-big-run"
    assert default_label("composition", tmp_path / "nfs") == "nfs"
    assert default_label("cephfs", tmp_path / "nfs") == "cephfs"
