"""The systemd part of :class:`~nxc.driver.machine.Machine` (NixOS test driver names).

Everything goes through ``systemctl`` on the node: ``user=`` runs ``systemctl --user`` as that
user (through ``su -l``, with their ``XDG_RUNTIME_DIR``), so the user's manager must run.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from nxc.driver.polling import retry
from nxc.errors import MachineError, NodeUnusableError, RequestedAssertionFailed


class SystemdCalls:
    """Mixin of the systemd methods; the class using it provides ``execute`` and ``nested``."""

    name: str

    if TYPE_CHECKING:

        def execute(
            self,
            command: str,
            check_return: bool = True,
            check_output: bool = True,
            timeout: int | float | None = 900,
        ) -> tuple[int, str]: ...

        def nested(
            self, msg: str, attrs: dict[str, str] | None = None
        ) -> AbstractContextManager[None]: ...

        def _quietly(self) -> AbstractContextManager[None]: ...

    # -- systemd ----------------------------------------------------------------------------

    def systemctl(self, q: str, user: str | None = None) -> tuple[int, str]:
        """Run ``systemctl q`` (``systemctl --user q`` as ``user`` when given)."""
        if user is None:
            return self.execute(f"systemctl {q}")
        inner = f"XDG_RUNTIME_DIR=/run/user/$(id -u) systemctl --user {q}"
        return self.execute(f"su -l {shlex.quote(user)} --shell /bin/sh -c {shlex.quote(inner)}")

    def get_unit_info(self, unit: str, user: str | None = None) -> dict[str, str]:
        """All properties of ``unit`` as ``systemctl show`` prints them."""
        status, lines = self.systemctl(f"--no-pager show {shlex.quote(unit)}", user)
        if status != 0:
            raise RequestedAssertionFailed(
                f'retrieving systemctl info for unit "{unit}"'
                + ("" if user is None else f' under user "{user}"')
                + f" failed with exit code {status} on {self.name}"
            )
        return dict(_property_lines(lines))

    def get_unit_property(self, unit: str, property: str, user: str | None = None) -> str:
        """One property of ``unit`` (e.g. ``ActiveState``)."""
        status, lines = self.systemctl(
            f"--no-pager show {shlex.quote(unit)} --property={shlex.quote(property)}", user
        )
        if status != 0:
            raise RequestedAssertionFailed(
                f'retrieving systemctl property "{property}" for unit "{unit}"'
                + ("" if user is None else f' under user "{user}"')
                + f" failed with exit code {status} on {self.name}"
            )
        values = dict(_property_lines(lines))
        if property not in values:
            raise RequestedAssertionFailed(
                f'systemctl show --property="{property}" "{unit}" produced invalid output '
                f"on {self.name}: {lines!r}"
            )
        return values[property]

    def require_unit_state(self, unit: str, require_state: str = "active") -> None:
        """Raise unless ``unit`` is in ``require_state`` now."""
        with self.nested(f"checking if unit '{unit}' has reached state '{require_state}'"):
            state = self.get_unit_info(unit).get("ActiveState")
            if state != require_state:
                raise RequestedAssertionFailed(
                    f"Expected unit '{unit}' to be in state '{require_state}' but it is in "
                    f"state '{state}' on {self.name}"
                )

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int | float = 900) -> None:
        """Wait until ``unit`` is active; raise at once if it fails or stays inactive."""

        def is_active(last_try: bool) -> bool:
            try:
                state = self.get_unit_property(unit, "ActiveState", user)
            except NodeUnusableError:
                raise  # dead or refused: waiting cannot help
            except MachineError:
                # Unreachable for a moment (rebooting): a miss, as in wait_until_succeeds.
                if last_try:
                    raise
                return False
            if state == "failed":
                raise RequestedAssertionFailed(f'unit "{unit}" reached state "failed"')
            if state == "inactive":
                _, jobs = self.systemctl("list-jobs --full 2>&1", user)
                if "No jobs" in jobs and self.get_unit_info(unit, user).get("ActiveState") == (
                    "inactive"
                ):
                    raise RequestedAssertionFailed(
                        f'unit "{unit}" is inactive and there are no pending jobs'
                    )
            return state == "active"

        suffix = f" with user {user}" if user is not None else ""
        with self.nested(f"waiting for unit {unit}{suffix}"), self._quietly():
            retry(is_active, timeout)

    def start_job(self, jobname: str, user: str | None = None) -> tuple[int, str]:
        """``systemctl start jobname``."""
        return self.systemctl(f"start {jobname}", user)

    def stop_job(self, jobname: str, user: str | None = None) -> tuple[int, str]:
        """``systemctl stop jobname``."""
        return self.systemctl(f"stop {jobname}", user)


def _property_lines(text: str) -> Iterator[tuple[str, str]]:
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            yield key, value
