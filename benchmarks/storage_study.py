"""The file-system study on this machine: GlusterFS vs CephFS vs the clients' local disk.

GlusterFS (replica 3 over 3 servers) and CephFS (1 monitor with its manager, 3 OSDs, 1 MDS)
are formed with real daemons (Debian's glusterfs-server and ceph-* packages) by the
compositions' own node scripts on namespace nodes, 2 FUSE clients each
(tests/storage/study.py); the nodes run sshd in their namespaces and are recorded as the
deployments ``glusterfs::vm::study`` and ``cephfs::vm::study`` of a project. Then the real CLI
runs ``nxc bench fio`` on each (every point again on the clients' local disk) and
``nxc bench compare``; the report's table is printed and the project kept. Needs root.

    python benchmarks/storage_study.py                                  # default sweep
    python benchmarks/storage_study.py --sizes 4k,64k,1M --jobs 1,2 --repeat 3 --size 32M
    python benchmarks/storage_study.py --project /var/tmp/study         # keep it there

The nodes share this machine's disk and its 2 cores: the numbers compare the file systems'
software paths (FUSE, replication, the network stack over veth), not real hardware.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.storage.study import Sweep, file_systems, run_study, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Sweep()
    parser.add_argument("--sizes", default="4k,64k,1M", help="block sizes (nxc bench --sizes)")
    parser.add_argument("--clients", default=defaults.clients, help="client counts to sweep")
    parser.add_argument("--jobs", default="1,2", help="processes per client to sweep")
    parser.add_argument("--modes", default=defaults.modes, help="fpp, shared or both")
    parser.add_argument("--size", default="16M", help="bytes per process")
    parser.add_argument("--repeat", type=int, default=3, help="runs per point")
    parser.add_argument("--project", type=Path, help="project folder (default: a new one)")
    options = parser.parse_args()
    if os.geteuid() != 0:
        parser.error("needs root (network and mount namespaces)")
    sweep = Sweep(options.sizes, options.clients, options.jobs, options.modes, options.size,
                  options.repeat)  # fmt: skip
    project = options.project or Path(tempfile.mkdtemp(prefix="nxc-study-", dir="/var/tmp"))
    project.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="nxc-study-nodes-", dir="/var/tmp") as nodes,
        file_systems(Path(nodes), project) as deployments,
    ):
        local = Path(nodes) / "local"
        results, report = run_study(project, deployments, local, sweep, "study", echo=True)
    print(f"results: {' '.join(map(str, results))}")
    print(f"report: {report}")
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
