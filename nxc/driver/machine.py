"""``Machine``: one node as a NixOS test script sees it.

Method names, argument names, defaults and timeout semantics follow the NixOS test driver,
so scripts written for NixOS tests run unchanged. Commands go through a
:class:`~nxc.driver.backend.NodeBackend` (SSH by default); lifecycle and fault calls go to
the flavour behind it.

Command semantics, as in NixOS: each command runs in ``bash`` with ``set -euo pipefail``;
``execute`` returns ``(status, stdout)``; ``timeout`` (seconds, ``None`` for none) is enforced
on the node, where an expired command ends with status 124.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path

from nxc.driver.backend import CommandResult, NodeBackend
from nxc.driver.logger import DriverLogger
from nxc.driver.polling import RETRY_INTERVAL, retry
from nxc.driver.systemd import SystemdCalls
from nxc.errors import (
    MachineError,
    NodeUnusableError,
    NxcError,
    RequestedAssertionFailed,
    TransportError,
)

#: Extra seconds the host waits past a command's own timeout before giving up on the node.
HOST_TIMEOUT_GRACE = 30.0
#: Characters before the console position kept to notice that the flavour began a new log.
CONSOLE_SIGNATURE = 256
#: Lines of output quoted in the message of a failed ``succeed``.
FAILURE_OUTPUT_LINES = 20

_QEMU_ONLY = frozenset(
    {
        "send_key",
        "send_chars",
        "send_console",
        "send_monitor_command",
        "screenshot",
        "get_screen_text",
        "get_screen_text_variants",
        "wait_for_text",
        "wait_for_x",
        "wait_for_window",
        "get_window_names",
        "forward_port",
        "console_interact",
        "switch_root",
        "get_tty_text",
        "wait_until_tty_matches",
        "dump_tty_contents",
        "wait_for_qmp_event",
    }
)


def make_command(args: list[object]) -> str:
    """Quote ``args`` into one shell command line."""
    return " ".join(shlex.quote(str(arg)) for arg in args)


def _wrap_in_shell(command: str, timeout: float | None) -> str:
    """The command line the node runs: bash (sh if absent) with strict options and a timeout."""
    limit = f"timeout {_seconds(timeout)} " if timeout is not None else ""
    strict_bash = shlex.quote(f"set -euo pipefail; {command}")
    strict_sh = shlex.quote(f"set -eu; {command}")
    return (
        f"if command -v bash >/dev/null 2>&1; then exec {limit}bash -c {strict_bash}; "
        f"else exec {limit}sh -c {strict_sh}; fi"
    )


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _failure(status: int, timeout: int | float | None, elapsed: float) -> str:
    """How a command failed: ``timed out after N s`` when its node-side timeout ended it.

    GNU ``timeout`` exits 124; busybox's ``timeout`` (test-bed guests, small containers) kills
    the command with SIGTERM instead, so the shell ends killed by it (status -15 over SSH, 143
    from a shell): that counts as the timeout only once the timeout has actually elapsed.
    """
    if timeout is not None:
        killed = status in (-signal.SIGTERM, 128 + signal.SIGTERM) and elapsed >= timeout
        if status == 124 or killed:
            return f"timed out after {_seconds(timeout)} s (exit code {status})"
    return f"failed (exit code {status})"


def _tail(text: str, lines: int = FAILURE_OUTPUT_LINES) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    return "\n".join(kept)


class Machine(SystemdCalls):
    """A node of the deployment, driven by a test script (NixOS test driver compatible)."""

    def __init__(
        self,
        name: str,
        backend: NodeBackend,
        logger: DriverLogger,
        *,
        role: str = "",
        out_dir: Path | None = None,
        booted: bool = True,
        boot_timeout: float = 900.0,
        callbacks: list[Callable[[], None]] | None = None,
    ) -> None:
        self.name = name
        self.role = role
        self.backend = backend
        self.logger = logger
        self.out_dir = out_dir if out_dir is not None else Path.cwd()
        self.booted = booted
        self.connected = False
        self.boot_timeout = boot_timeout
        self.callbacks: list[Callable[[], None]] = list(callbacks or [])
        self._quiet = 0
        self._console_offset = 0
        self._console_signature = ""

    @property
    def hostname(self) -> str:
        """The node's hostname (the same as :attr:`name`)."""
        return self.name

    def __repr__(self) -> str:
        return f"<Machine '{self.name}'>"

    def __getattr__(self, attribute: str) -> object:
        if attribute in _QEMU_ONLY:
            raise MachineError(
                f"machine.{attribute}() drives a QEMU display, keyboard or monitor in the NixOS "
                f"test driver; nxc reaches nodes over SSH and cannot do it (node {self.name})"
            )
        raise AttributeError(f"'Machine' object has no attribute '{attribute}'")

    # -- logging ----------------------------------------------------------------------------

    def log(self, msg: str) -> None:
        """Log a message under this machine's name."""
        self.logger.log(msg, {"machine": self.name})

    def nested(self, msg: str, attrs: dict[str, str] | None = None) -> AbstractContextManager[None]:
        """A timed log group under this machine's name."""
        return self.logger.nested(msg, {"machine": self.name, **(attrs or {})})

    # -- running commands -------------------------------------------------------------------

    def is_up(self) -> bool:
        """Whether the machine is on and the driver has reached it."""
        return self.booted and self.connected

    def run_callbacks(self) -> None:
        """Run the driver's checks (polling conditions) due before each command."""
        for callback in self.callbacks:
            callback()

    def execute(
        self,
        command: str,
        check_return: bool = True,
        check_output: bool = True,
        timeout: int | float | None = 900,
    ) -> tuple[int, str]:
        """Run a shell command; return ``(status, stdout)``.

        ``check_return=False`` returns status -1 and tolerates the connection dropping (for
        commands that reboot or power off the node); ``check_output=False`` starts the command
        detached and returns ``(-2, "")`` at once. ``timeout`` is enforced on the node (status
        124 when it expires); ``None`` means no limit.
        """
        self.run_callbacks()
        self.connect()
        if not check_output:
            self._launch_detached(command)
            return (-2, "")
        try:
            result = self._run(command, timeout)
        except MachineError:
            if check_return:
                raise
            return (-1, "")
        if not check_return:
            return (-1, result.stdout)
        return (result.status, result.stdout)

    def succeed(self, *commands: str, timeout: int | float | None = None) -> str:
        """Run each command, raising if one exits non-zero; return their joined stdout."""
        output = ""
        for command in commands:
            with self.nested(f"must succeed: {command}"):
                self.run_callbacks()
                self.connect()
                started = time.monotonic()
                result = self._run(command, timeout, quiet=True)
                if result.status != 0:
                    shown = self._log_output(result)
                    elapsed = time.monotonic() - started
                    raise RequestedAssertionFailed(
                        f"command `{command}` "
                        + _failure(result.status, timeout, elapsed)
                        + (f" on {self.name}; output:\n{shown}" if shown else f" on {self.name}")
                    )
                output += result.stdout
        return output

    def fail(self, *commands: str, timeout: int | float | None = None) -> str:
        """Run each command, raising if one exits zero; return their joined stdout."""
        output = ""
        for command in commands:
            with self.nested(f"must fail: {command}"):
                self.run_callbacks()
                self.connect()
                result = self._run(command, timeout, quiet=True)
                if result.status == 0:
                    shown = self._log_output(result)
                    raise RequestedAssertionFailed(
                        f"command `{command}` unexpectedly succeeded on {self.name}"
                        + (f"; output:\n{shown}" if shown else "")
                    )
                output += result.stdout
        return output

    def wait_until_succeeds(self, command: str, timeout: int | float = 900) -> str:
        """Repeat ``command`` every second until it succeeds; return its stdout."""
        return self._wait_for_status(command, timeout, want_success=True)

    def wait_until_fails(self, command: str, timeout: int | float = 900) -> str:
        """Repeat ``command`` every second until it fails; return its stdout."""
        return self._wait_for_status(command, timeout, want_success=False)

    def sleep(self, secs: int | float) -> None:
        """Sleep ``secs`` seconds of the node's time."""
        self.succeed(f"sleep {_seconds(secs)}")

    # -- waiting for things -----------------------------------------------------------------

    def wait_for_file(self, filename: str, timeout: int | float = 900) -> None:
        """Wait until ``filename`` exists on the node."""
        with self.nested(f"waiting for file '{filename}'"):
            self._retry_check(f"test -e {filename}", timeout, want_success=True)

    def wait_for_open_port(
        self, port: int, addr: str = "localhost", timeout: int | float = 900
    ) -> None:
        """Wait until something listens on TCP ``addr:port`` (seen from the node)."""
        with self.nested(f"waiting for TCP port {port} on {addr}"):
            self._retry_check(_tcp_probe(addr, port), timeout, want_success=True)

    def wait_for_closed_port(
        self, port: int, addr: str = "localhost", timeout: int | float = 900
    ) -> None:
        """Wait until nothing listens on TCP ``addr:port`` any more."""
        with self.nested(f"waiting for TCP port {port} on {addr} to be closed"):
            self._retry_check(_tcp_probe(addr, port), timeout, want_success=False)

    def wait_for_open_unix_socket(
        self, addr: str, is_datagram: bool = False, timeout: int | float = 900
    ) -> None:
        """Wait until something listens on the UNIX socket ``addr`` (stream by default)."""
        kind = "datagram" if is_datagram else "stream"
        with self.nested(f"waiting for UNIX-domain {kind} on '{addr}'"):
            self._retry_check(_unix_probe(addr, is_datagram), timeout, want_success=True)

    # -- files ------------------------------------------------------------------------------

    def copy_from_host(self, source: str, target: str) -> None:
        """Copy a host file or folder to ``target`` on the node, through the shared folder."""
        host_source = Path(source)
        shared = self.backend.shared_dir
        with self.nested(f"copying {host_source} from the host to {target}"):
            if shared is None:
                self.succeed(make_command(["mkdir", "-p", str(Path(target).parent)]))
                self.backend.put(host_source, target)
                return
            shared.host.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=shared.host, prefix="copy-") as temp:
                staged = Path(temp) / host_source.name
                if host_source.is_dir():
                    shutil.copytree(host_source, staged, symlinks=True)
                else:
                    shutil.copy2(host_source, staged)
                node_staged = f"{shared.node}/{Path(temp).name}/{host_source.name}"
                self.succeed(
                    make_command(["mkdir", "-p", str(Path(target).parent)]),
                    make_command(["cp", "-r", node_staged, target]),
                )

    def copy_from_machine(self, source: str, target_dir: str = "") -> None:
        """Copy a node file or folder into ``out_dir/target_dir`` on the host."""
        node_source = Path(source)
        destination = self.out_dir / target_dir / node_source.name
        shared = self.backend.shared_dir
        with self.nested(f"copying {source} from the node to {destination}"):
            destination.parent.mkdir(parents=True, exist_ok=True)
            if shared is None:
                self.backend.get(source, destination)
                return
            shared.host.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=shared.host, prefix="copy-") as temp:
                node_temp = f"{shared.node}/{Path(temp).name}"
                self.succeed(
                    make_command(["mkdir", "-p", node_temp]),
                    make_command(["cp", "-r", source, f"{node_temp}/"]),
                )
                staged = Path(temp) / node_source.name
                if staged.is_dir():
                    shutil.copytree(staged, destination, symlinks=True, dirs_exist_ok=True)
                else:
                    shutil.copy2(staged, destination)

    def copy_from_vm(self, source: str, target_dir: str = "") -> None:
        """The NixOS test driver's older name of :meth:`copy_from_machine`."""
        self.copy_from_machine(source, target_dir)

    def copy_from_host_via_shell(self, source: str, target: str) -> None:
        """Copy a host file to ``target`` through the command channel (no shared folder)."""
        with self.nested(f"copying {source} from the host to {target}"):
            self.succeed(make_command(["mkdir", "-p", str(Path(target).parent)]))
            self.backend.put(Path(source), target)

    # -- interactive ------------------------------------------------------------------------

    def shell_interact(self, address: str | None = None) -> None:
        """Open an interactive root shell on the node in this terminal (for test writing)."""
        if address is not None:
            raise MachineError(
                "shell_interact(address=...) forwards the NixOS test driver's backdoor shell "
                "through socat; with nxc call shell_interact() or use `nxc connect "
                f"{self.name}`"
            )
        self.connect()
        self.log("opening an interactive shell; leave it with Ctrl-D")
        with suppress(KeyboardInterrupt):
            subprocess.run(self.backend.interactive_argv(), check=False)

    # -- lifecycle and faults ---------------------------------------------------------------

    def start(self, allow_reboot: bool = False) -> None:
        """Power the node on if it is off; does not wait for it to boot."""
        if self.booted:
            return
        with self.nested("starting node"):
            before = self._read_console()
            self.backend.start()
            self._start_console_after(before)
        self.booted = True
        self.connected = False

    def shutdown(self) -> None:
        """Shut the node down cleanly and wait until it is off."""
        if not self.booted:
            return
        with self.nested("shutting down"):
            self.backend.shutdown()
        self.booted = False
        self.connected = False

    def crash(self) -> None:
        """Cut the node's power at once (a sudden power failure)."""
        if not self.booted:
            return
        with self.nested("forced crash"):
            self.backend.crash()
        self.booted = False
        self.connected = False

    def reboot(self) -> None:
        """Reboot the node; the next command waits for it to be back."""
        with self.nested("rebooting"):
            before = self._read_console()
            self.backend.reboot()
            self._start_console_after(before)
        self.booted = True
        self.connected = False

    def wait_for_shutdown(self, timeout: int | float = 900) -> None:
        """Wait until the node is off (it was asked to power off by other means)."""
        if not self.booted:
            return

        def is_off(_last_try: bool) -> bool:
            return not self.backend.is_running()

        with self.nested("waiting for the node to power off"):
            retry(is_off, timeout)
        self.booted = False
        self.connected = False

    def block(self) -> None:
        """Cut the node's link to the other nodes (the driver can still reach it)."""
        with self.nested("unplugging the node from the other nodes"):
            self.backend.block()

    def unblock(self) -> None:
        """Plug the node back to the other nodes."""
        with self.nested("plugging the node back to the other nodes"):
            self.backend.unblock()

    def get_console_log(self) -> str:
        """Everything the node printed on its console."""
        return self.backend.console_log()

    def wait_for_console_text(self, regex: str, timeout: int | float | None = None) -> None:
        """Wait until ``regex`` matches console output not matched by an earlier call.

        Output printed before the driver last started or rebooted the node is ignored.
        ``timeout=None`` waits up to :attr:`boot_timeout` seconds. A node that is off and whose
        console does not match raises :class:`NodeUnusableError` at once (it prints no more).
        """
        pattern = re.compile(regex)

        def console_matches(last_try: bool) -> bool:
            if console_search(last_try):
                return True
            if not self.backend.is_running() and not console_search(last_try=True):
                raise NodeUnusableError(
                    f"{self.name} is not running and its console never showed {regex!r}; "
                    "see its console log (machine.get_console_log())"
                )
            return False

        def console_search(last_try: bool) -> bool:
            console = self.backend.console_log()
            start = self._console_offset
            if console[max(0, start - CONSOLE_SIGNATURE) : start] != self._console_signature:
                start = 0  # the flavour started a new log (the node was relaunched)
            found = pattern.search(console, start)
            if found:
                self._remember_console_position(console, found.end())
                return True
            if last_try:
                self.log(f"console so far ends with:\n{_tail(console)}")
            return False

        with self.nested(f"waiting for {regex} to appear on console"):
            retry(console_matches, self.boot_timeout if timeout is None else timeout)

    def connect(self) -> None:
        """Wait until the node answers commands (booting it first if it is off)."""
        if self.connected:
            return
        if not self.booted:
            self.start()
        elif not self.backend.is_running():
            raise NodeUnusableError(
                f"{self.name} is not running: it went down without crash() or shutdown() "
                "from the test script; its console log tells why (machine.get_console_log())"
            )
        deadline = time.monotonic() + self.boot_timeout
        with self.nested("waiting for the node to answer"):
            while True:
                try:
                    self.backend.run("true", timeout=min(30.0, self.boot_timeout))
                    break
                except TransportError as error:
                    if time.monotonic() >= deadline:
                        raise MachineError(
                            f"{self.name} did not answer within {self.boot_timeout:g} seconds "
                            f"({error}); see its console log (machine.get_console_log())"
                        ) from error
                    if not self.backend.is_running():
                        raise NodeUnusableError(
                            f"{self.name} stopped while the driver waited for it to answer; "
                            "see its console log (machine.get_console_log())"
                        ) from error
                time.sleep(RETRY_INTERVAL)
        self.connected = True

    # -- internals --------------------------------------------------------------------------

    def _run(self, command: str, timeout: int | float | None, quiet: bool = False) -> CommandResult:
        """Run one command on a connected node and log it with its status and duration."""
        started = time.monotonic()
        host_timeout = None if timeout is None else float(timeout) + HOST_TIMEOUT_GRACE
        try:
            result = self.backend.run(_wrap_in_shell(command, timeout), host_timeout)
        except NodeUnusableError:
            self.connected = False
            raise
        except TransportError as error:
            self.connected = False
            elapsed = time.monotonic() - started
            self.logger.error(
                f"$ {command}  (lost contact after {elapsed:.2f} s: {error})",
                {"machine": self.name},
            )
            raise MachineError(
                f"{self.name}: lost contact while running `{command}`: {error}"
            ) from error
        elapsed = time.monotonic() - started
        message = f"$ {command}  (exit {result.status}, {elapsed:.2f} s)"
        if quiet or self._quiet:
            self.logger.debug(message, {"machine": self.name})
        else:
            self.logger.info(message, {"machine": self.name})
            if result.status != 0:
                self._log_output(result)
        return result

    def _log_output(self, result: CommandResult) -> str:
        """Log a failed command's output; return its tail for an error message."""
        shown = _tail(result.stdout + result.stderr)
        if shown:
            self.log(f"output:\n{shown}")
        return shown

    def _read_console(self) -> str:
        try:
            return self.backend.console_log()
        except NxcError:
            return ""  # the flavour keeps no console log

    def _start_console_after(self, before: str) -> None:
        """Make ``wait_for_console_text`` look only at what the new boot printed.

        A log that grew from ``before`` continues it; anything else is a fresh log (a relaunched
        QEMU truncates its file, possibly to the very same lines).
        """
        after = self._read_console()
        appended = len(after) > len(before) and after.startswith(before)
        self._remember_console_position(after, len(before) if appended else 0)

    def _remember_console_position(self, console: str, offset: int) -> None:
        """Where the next search starts, and the text just before it (to notice a new log)."""
        self._console_offset = offset
        self._console_signature = console[max(0, offset - CONSOLE_SIGNATURE) : offset]

    def _launch_detached(self, command: str) -> None:
        shell = shlex.quote(_wrap_in_shell(command, None))
        detached = f"setsid sh -c {shell} </dev/null >/dev/null 2>&1 &"
        try:
            self.backend.run(detached, HOST_TIMEOUT_GRACE)
        except TransportError:
            self.connected = False
        self.log(f"$ {command}  (started detached)")

    def _wait_for_status(self, command: str, timeout: int | float, want_success: bool) -> str:
        kind = "success" if want_success else "failure"
        with self.nested(f"waiting for {kind}: {command}"):
            return self._retry_check(command, timeout, want_success, command_timeout=timeout)

    def _retry_check(
        self,
        command: str,
        timeout: int | float,
        want_success: bool,
        command_timeout: int | float | None = 900,
    ) -> str:
        """Retry ``command`` until its status is what is wanted; a lost node counts as a miss,
        a dead or refused one (:class:`NodeUnusableError`) ends the wait at once."""
        output = ""
        attempts = 0

        def check(last_try: bool) -> bool:
            nonlocal output, attempts
            attempts += 1
            try:
                with self._quietly():
                    status, output = self.execute(command, timeout=command_timeout)
            except NodeUnusableError:
                raise  # dead or refused: no later attempt can succeed
            except MachineError as error:
                if last_try:
                    raise
                self.logger.debug(f"attempt {attempts}: {error}", {"machine": self.name})
                return False
            if last_try:
                self.log(f"last attempt of `{command}` exited {status}; output:\n{_tail(output)}")
            return (status == 0) == want_success

        retry(check, timeout)
        return output

    def _quietly(self) -> AbstractContextManager[None]:
        return _QuietCommands(self)


class _QuietCommands(AbstractContextManager[None]):
    """Log the commands of a polling loop at debug level only."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def __enter__(self) -> None:
        self.machine._quiet += 1

    def __exit__(self, *_: object) -> None:
        self.machine._quiet -= 1


def _tcp_probe(addr: str, port: int) -> str:
    """A node-side command that succeeds when something accepts TCP connections on
    ``addr:port``: ``nc -z`` where it exists (NixOS), a plain ``nc`` with empty input where
    ``-z`` is missing (busybox), bash's ``/dev/tcp`` where there is no ``nc``."""
    target = f"{shlex.quote(addr)} {int(port)}"
    with_bash = shlex.quote(f"exec 3<>/dev/tcp/{addr}/{int(port)}")
    return (
        f"if command -v nc >/dev/null 2>&1; then nc -z {target} 2>/dev/null "
        f"|| timeout 5 nc {target} </dev/null >/dev/null 2>&1; "
        f"else timeout 5 bash -c {with_bash} 2>/dev/null; fi"
    )


def _unix_probe(addr: str, is_datagram: bool) -> str:
    flags = "-uU" if is_datagram else "-U"
    kind = "SOCK_DGRAM" if is_datagram else "SOCK_STREAM"
    python = shlex.quote(
        f"import socket,sys; socket.socket(socket.AF_UNIX, socket.{kind}).connect(sys.argv[1])"
    )
    path = shlex.quote(addr)
    # An nc without unix sockets (Debian's netcat-traditional, busybox) would never see one:
    # its help must list -U, else python3 probes.
    return (
        "if command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -q -e '-U'; then "
        f"nc -z {flags} {path}; "
        f"elif command -v python3 >/dev/null 2>&1; then python3 -c {python} {path} 2>/dev/null; "
        "else echo 'wait_for_open_unix_socket needs nc with -U (OpenBSD netcat) or python3 on "
        "the node' >&2; exit 127; fi"
    )
