"""The one exception tree of nxc.

Library code raises these; only ``nxc.cli`` turns them into a message and an exit code.
Every message says what is wrong *and* what to do about it, in one line.

    NxcError                      exit 1  something failed at run time
    ├── InputError                exit 2  bad input from the user: fix the command or file
    │   ├── ProjectError                  no project, broken nxc.json, unknown flavour
    │   ├── RolesError                    bad -r option or roles file
    │   ├── ManifestError                 build manifest missing, invalid or of another flavour
    │   ├── DeploymentRecordError         deployment record missing or corrupted
    │   │   └── JournalError                  deployment journal unreadable or corrupted
    │   ├── UnsafeRecordError             record names what nxc did not make: stop refuses
    │   ├── DeploymentActiveError         a deployment is still running: stop it first
    │   ├── ResourceLimitError            asks for more than this machine can hold
    │   ├── MachineFileError              machine file missing, malformed, or with unknown hosts
    │   ├── SweepChangedError             a benchmark sweep's saved state has another definition
    │   └── SweepBusyError                another nxc bench runs that sweep
    ├── MissingToolError          exit 3  an external program is not installed
    │   ├── RemoteToolMissingError        ... on some nodes (e.g. fio for nxc bench)
    │   └── NixTooOldError                the installed Nix predates flakes
    ├── ExternalCommandError      exit 1  an external program (nix, qemu, oarsub...) failed
    │   └── NixpkgsUnreachableError       Nix had to download an input and had no network
    ├── DeploymentLockedError     exit 1  another nxc process holds a deployment's lock
    ├── NodeTimeoutError          exit 4  nodes did not come up in time (names them)
    ├── TransportError            exit 1  a node could not be reached or a command failed
    │   └── HostKeyMismatchError          a node presented another host key than the pinned one
    ├── OarJobError               exit 1  OAR job refused, unknown, pending too long, or ended
    ├── UnsupportedOperationError exit 1  the flavour cannot do this (e.g. crash a Grid'5000 node)
    └── TestScriptError           exit 1  a composition's test script failed (the driver's errors)
        ├── RequestedAssertionFailed      succeed/fail/t.assert* or a wait did not hold
        ├── MachineError                  a node the driver cannot use (unreachable, stopped)
        │   └── NodeUnusableError         ... and no wait can bring it back (dead, other host key)
        └── PollingConditionError         a polling_condition stopped holding

The test-script errors keep the NixOS test driver's class names, so scripts that catch them by
name keep working.

A message that names an option of the library (a flavour's ``timeout``, ``retries``...) is
built with :meth:`NxcError.naming`: its text says the library's name, and the CLI shows it
with the flag that sets that option instead (:meth:`NxcError.render`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self


class NxcError(Exception):
    """Root of every error nxc raises on purpose."""

    exit_code: int = 1
    template: str | None = None
    """The message with ``{option}`` fields where it names library options (see :meth:`naming`)."""
    options: tuple[str, ...] = ()
    """The library options the message names."""

    @classmethod
    def naming(cls, template: str, *options: str, **arguments: Any) -> Self:
        """An error whose message names the library ``options``, written ``{option}`` in
        ``template``: its text shows the options' names; the CLI renders it with its flags.
        ``arguments`` go to the class's constructor."""
        error = cls(fill_options(template, {name: name for name in options}), **arguments)
        error.template, error.options = template, options
        return error

    def render(self, flags: Mapping[str, str]) -> str:
        """The message with each named option shown as ``flags`` spells it (the CLI's flags);
        an option ``flags`` does not know keeps its library name."""
        if self.template is None:
            return str(self)
        return fill_options(self.template, {name: flags.get(name, name) for name in self.options})


def fill_options(template: str, shown: Mapping[str, str]) -> str:
    """``template`` with each ``{name}`` of ``shown`` replaced (other braces left as they are):
    a library message's option names shown as the CLI's flags."""
    for name, text in shown.items():
        template = template.replace("{" + name + "}", text)
    return template


class InputError(NxcError):
    """The user gave something nxc cannot use; the message says how to fix it."""

    exit_code = 2


class ProjectError(InputError):
    """The project (flake.nix, nxc.json, flavour name) is missing or malformed."""


class RolesError(InputError):
    """A ``-r`` option or a roles file is malformed or names unknown roles."""


class ManifestError(InputError):
    """A build manifest is missing, malformed, or does not fit the request."""


class DeploymentRecordError(InputError):
    """A deployment record is missing or cannot be read."""


class JournalError(DeploymentRecordError):
    """A deployment journal (``deploy/<name>.journal.jsonl``) is missing, unreadable, or has
    a corrupted line before its end."""


class DeploymentActiveError(InputError):
    """The request needs a deployment to be stopped first (e.g. ``nxc clean``)."""


class ResourceLimitError(InputError):
    """The request does not fit the machine (memory, addresses, hosts)."""


class MissingToolError(NxcError):
    """An external program nxc needs is not installed."""

    exit_code = 3

    def __init__(self, program: str, package: str, purpose: str = "") -> None:
        self.program = program
        self.package = package
        why = f" (needed {purpose})" if purpose else ""
        super().__init__(
            f"'{program}' was not found on PATH{why}; install it, e.g. "
            f"'apt-get install {package}' on Debian or 'nix shell nixpkgs#{package}'"
        )


class RemoteToolMissingError(MissingToolError):
    """A program is missing on some nodes of a deployment (not on this machine)."""

    def __init__(self, program: str, hosts: list[str], hint: str) -> None:
        self.hosts = list(hosts)
        NxcError.__init__(self, f"'{program}' is not installed on {', '.join(hosts)}; {hint}")
        self.program = program
        self.package = program


class NixTooOldError(MissingToolError):
    """The installed Nix predates flakes."""

    def __init__(self, program: str, version: str, minimum: str) -> None:
        self.program = program
        self.package = "nix-bin"
        NxcError.__init__(
            self,
            f"'{program}' is Nix {version}, nxc needs Nix >= {minimum} (flakes); install a "
            "newer Nix, e.g. 'apt-get install nix-bin' on Debian 12 or the installer from the "
            "Nix website",
        )


class ExternalCommandError(NxcError):
    """An external program ran and failed."""

    def __init__(self, message: str, log_path: Path | None = None) -> None:
        self.log_path = log_path
        if log_path is not None:
            message = f"{message} (full log: {log_path})"
        super().__init__(message)


class NixpkgsUnreachableError(ExternalCommandError):
    """Nix needed to download something (nixpkgs, usually) and had no network."""


class DeploymentLockedError(NxcError):
    """Another nxc process is working on the same deployment record."""


class NodeTimeoutError(NxcError):
    """Some nodes did not reach the awaited state before the deadline."""

    exit_code = 4

    def __init__(self, message: str, missing: list[str] | None = None) -> None:
        self.missing = list(missing or [])
        super().__init__(message)


class MachineFileError(InputError):
    """A machine file is missing, malformed, or names hosts nxc cannot use."""


class OarJobError(NxcError):
    """An OAR job was refused, does not exist, did not start in time, or ended."""


class TransportError(NxcError):
    """A node could not be reached, or a remote operation failed."""


class HostKeyMismatchError(TransportError):
    """A node presented a host key other than the one the deployment pinned for it."""


class UnsupportedOperationError(NxcError):
    """The deployment's flavour cannot perform the requested operation."""


class UnsafeRecordError(InputError):
    """A record names something nxc did not make (a folder, a process, a container): stop
    touches nothing rather than destroy what may be someone else's."""


class TestScriptError(NxcError):
    """The test script failed; only its own stack frames are worth showing."""

    __test__ = False  # not a pytest test class despite the name


class RequestedAssertionFailed(TestScriptError):
    """An assertion the script asked for did not hold (command status, wait, ``t.assert*``)."""


class MachineError(TestScriptError):
    """A node could not be used: unreachable, not running, or an operation it cannot do."""


class NodeUnusableError(MachineError):
    """A node that waiting cannot bring back: its machine is gone, or it presented a host key
    other than the pinned one. ``wait_*`` calls raise it at once instead of waiting it out."""


class PollingConditionError(TestScriptError):
    """A ``polling_condition`` stopped holding while the script ran."""


class SweepChangedError(InputError):
    """A benchmark sweep's state folder holds a sweep with another definition."""


class SweepBusyError(InputError):
    """Another process is running the benchmark sweep of this state folder."""
