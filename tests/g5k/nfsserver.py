"""A user-space NFS server exporting one folder read-only over NFSv3, as a frontend exports its store.

This machine's kernel has no ``nfsd``, so :class:`NfsServer` runs Debian's NFS-Ganesha
(``nfs-ganesha`` with its VFS backend ``nfs-ganesha-vfs``) in the foreground, with its own
configuration, log and pid files in a work folder, bound to one address. The nodes' kernel asks
the server's ``rpcbind`` for the MOUNT and NFS ports (``mount -o vers=3``): when none answers
here, one is started too. :meth:`NfsServer.stop` stops what :meth:`NfsServer.start` started,
by pid.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nxc.errors import MissingToolError, NxcError
from tests.g5k.hostvms import _terminate

START_TIMEOUT = 30.0
TOOLS = {"ganesha.nfsd": "nfs-ganesha", "rpcbind": "rpcbind", "rpcinfo": "rpcbind"}

CONFIG = """\
NFS_CORE_PARAM {{
    Protocols = 3;
    Bind_addr = {address};
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSV4 {{
    Graceless = true;
    RecoveryRoot = {recovery};
}}
EXPORT {{
    Export_Id = 1;
    Path = {export};
    Pseudo = {export};
    Protocols = 3;
    Transports = TCP, UDP;
    Access_Type = RO;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
"""


def tools() -> dict[str, str]:
    """Absolute paths of the programs the server needs, or MissingToolError naming the package."""
    found = {}
    for program, package in TOOLS.items():
        path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
        if path is None:
            raise MissingToolError(program, package, "to export a folder over NFS")
        found[program] = path
    return found


@dataclass
class NfsServer:
    """NFS-Ganesha exporting ``export`` read-only over NFSv3 on ``address`` (see the module)."""

    workdir: Path
    export: Path
    address: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.workdir / "ganesha.log"

    def _rpcinfo(self) -> subprocess.CompletedProcess:
        argv = [tools()["rpcinfo"], "-p", self.address]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)

    def start(self) -> NfsServer:
        """Start rpcbind (unless one answers) and Ganesha; return once MOUNT v3 is registered."""
        paths = tools()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "recovery").mkdir(exist_ok=True)
        config = self.workdir / "ganesha.conf"
        config.write_text(
            CONFIG.format(
                address=self.address, export=self.export, recovery=self.workdir / "recovery"
            )
        )
        try:
            if self._rpcinfo().returncode != 0:
                self._spawn("rpcbind.log", [paths["rpcbind"], "-f"])
            self._spawn(
                "ganesha.out",
                [
                    paths["ganesha.nfsd"], "-F",
                    "-f", str(config),
                    "-L", str(self.log),
                    "-p", str(self.workdir / "ganesha.pid"),
                    "-N", "NIV_EVENT",
                ],
            )  # fmt: skip
            self._wait_registered()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, log_name: str, argv: list[str]) -> None:
        with open(self.workdir / log_name, "wb") as log:
            self.processes.append(
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            )

    def _wait_registered(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    raise NxcError(
                        f"{process.args[0]} ended ({process.returncode}); {self._tail()}"
                    )
            listing = self._rpcinfo().stdout
            if any(
                line.split()[1:2] == ["3"] and "mountd" in line for line in listing.splitlines()
            ):
                return
            if time.monotonic() > deadline:
                raise NxcError(
                    f"no NFSv3 MOUNT service after {START_TIMEOUT:.0f} s; {self._tail()}"
                )
            time.sleep(0.3)

    def _tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"see {self.log}:\n" + "\n".join(lines[-10:])

    def stop(self) -> None:
        """Stop Ganesha, then the rpcbind started here (by pid)."""
        while self.processes:
            _terminate(self.processes.pop())
