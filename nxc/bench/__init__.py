"""Benchmark drivers run with execo on a started deployment's client nodes.

    from pathlib import Path

    from nxc.bench import FioSettings, SweepOptions, SweepSpec, run_fio_sweep
    import nxc

    with nxc.open_deployment() as env:
        spec = SweepSpec.parse(sizes="4k,1M", jobs="1,4", clients="1,2", modes="fpp,shared")
        options = SweepOptions(repeat=3, local_directory="/tmp/local/{host}",
                               state_dir=Path("artifact/bench/mine.sweep"))
        run = run_fio_sweep(env, "client", spec, FioSettings(directory="/mnt/fs/{host}"), options)

Modules: :mod:`nxc.bench.sweep` (parameter sweeps); :mod:`nxc.bench.fio`, :mod:`nxc.bench.ior`
and :mod:`nxc.bench.mdtest` (command lines and output parsers); :mod:`nxc.bench.runner`
(parallel runs through ``execo.Remote``, one SSH connection per client); :mod:`nxc.bench.state`
(resumable state, execo's ``ParamSweeper``); :mod:`nxc.bench.results` (JSON/CSV files, means
and spreads); :mod:`nxc.bench.plots` (PNG figures) and :mod:`nxc.bench.report` (Markdown
reports, comparisons).
"""

from nxc.bench.fio import FioSettings
from nxc.bench.ior import IorSettings
from nxc.bench.mdtest import MdtestSettings
from nxc.bench.report import write_comparison, write_report
from nxc.bench.results import BenchResult, BenchRun, load_results, write_results
from nxc.bench.runner import (
    SweepOptions,
    run_fio_sweep,
    run_ior_sweep,
    run_mdtest_sweep,
    run_sweep,
)
from nxc.bench.sweep import SweepPoint, SweepSpec
from nxc.errors import SweepChangedError

__all__ = [
    "BenchResult",
    "BenchRun",
    "FioSettings",
    "IorSettings",
    "MdtestSettings",
    "SweepChangedError",
    "SweepOptions",
    "SweepPoint",
    "SweepSpec",
    "load_results",
    "run_fio_sweep",
    "run_ior_sweep",
    "run_mdtest_sweep",
    "run_sweep",
    "write_comparison",
    "write_report",
    "write_results",
]
