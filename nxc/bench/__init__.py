"""Benchmark drivers run with execo on a started deployment's client nodes.

    from nxc.bench import FioSettings, SweepSpec, run_fio_sweep
    import nxc

    with nxc.open_deployment() as env:
        spec = SweepSpec.parse(sizes="4k,1M", jobs="1,4", clients="1,2", modes="fpp,shared")
        run = run_fio_sweep(env, "client", spec, FioSettings(directory="/mnt/fs/{host}"))

Modules: :mod:`nxc.bench.sweep` (parameter sweeps); :mod:`nxc.bench.fio`, :mod:`nxc.bench.ior`
and :mod:`nxc.bench.mdtest` (command lines and output parsers); :mod:`nxc.bench.runner`
(parallel runs through ``execo.Remote``); :mod:`nxc.bench.results` (JSON/CSV files).
"""

from nxc.bench.fio import FioSettings
from nxc.bench.ior import IorSettings
from nxc.bench.mdtest import MdtestSettings
from nxc.bench.results import BenchResult, write_results
from nxc.bench.runner import run_fio_sweep, run_ior_sweep, run_mdtest_sweep
from nxc.bench.sweep import SweepPoint, SweepSpec

__all__ = [
    "BenchResult",
    "FioSettings",
    "IorSettings",
    "MdtestSettings",
    "SweepPoint",
    "SweepSpec",
    "run_fio_sweep",
    "run_ior_sweep",
    "run_mdtest_sweep",
    "write_results",
]
