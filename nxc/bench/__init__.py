"""Benchmark drivers run with execo on a started deployment's client nodes.

    from nxc.bench import FioSettings, SweepSpec, run_fio_sweep
    import nxc

    with nxc.open_deployment() as env:
        spec = SweepSpec.parse(sizes="4k,1M", jobs="1,4", clients="1,2", modes="fpp,shared")
        results = run_fio_sweep(env, "client", spec, FioSettings(directory="/mnt/fs/{host}"))

Modules: :mod:`nxc.bench.sweep` (parameter sweeps), :mod:`nxc.bench.fio` and
:mod:`nxc.bench.ior` (command lines and output parsers), :mod:`nxc.bench.runner` (parallel runs
through ``execo.Remote``), :mod:`nxc.bench.results` (CSV/JSON files under ``artifact/bench``).
"""

from nxc.bench.fio import FioSettings
from nxc.bench.results import BenchResult, write_results
from nxc.bench.runner import run_fio_sweep, run_ior_sweep
from nxc.bench.sweep import SweepPoint, SweepSpec

__all__ = [
    "BenchResult",
    "FioSettings",
    "SweepPoint",
    "SweepSpec",
    "run_fio_sweep",
    "run_ior_sweep",
    "write_results",
]
