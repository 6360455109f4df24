"""``runc``, minus the capabilities this machine's bounding set lacks.

A privileged container asks runc for every capability the kernel knows; where the engine itself
runs without some of them (a sandbox whose bounding set lacks ``CAP_SYS_RESOURCE``, as on the
machines these tests were written on), runc refuses to start the container or any
``docker exec`` into it ("unable to apply caps"). The tests' private engine uses this as its
runtime only on such machines (see conftest.py ``docker_engine``): it removes those
capabilities from the container's (``create --bundle``) or the exec's (``exec --process``)
configuration and runs the real runc. Everything else is runc's own doing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# Capability names by number (linux/capability.h), without the CAP_ prefix.
CAPABILITIES = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
]


def missing_capabilities() -> set[str]:
    """``CAP_*`` names this process's bounding set lacks (of those both it and the kernel know)."""
    status = Path("/proc/self/status").read_text().splitlines()
    bounding = next(int(line.split()[1], 16) for line in status if line.startswith("CapBnd:"))
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    return {
        f"CAP_{name}"
        for number, name in enumerate(CAPABILITIES[: last + 1])
        if not bounding >> number & 1
    }


def _rewrite(path: Path, in_process: bool, missing: set[str]) -> None:
    """Remove ``missing`` from the capabilities of the runc configuration at ``path``."""
    config = json.loads(path.read_text())
    process = (config.get("process") or {}) if in_process else config
    capabilities = process.get("capabilities") or {}
    for kind, names in capabilities.items():
        capabilities[kind] = [name for name in names if name not in missing]
    path.write_text(json.dumps(config))


def main(args: list[str]) -> None:
    """Drop the missing capabilities from what runc is given, then become runc."""
    missing = missing_capabilities()
    if missing and "create" in args and "--bundle" in args:
        _rewrite(Path(args[args.index("--bundle") + 1]) / "config.json", True, missing)
    if missing and "exec" in args and "--process" in args:
        _rewrite(Path(args[args.index("--process") + 1]), False, missing)
    os.execvp("runc", ["runc", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
