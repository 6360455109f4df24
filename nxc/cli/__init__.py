"""Command-line interface: the only place that prints to the user or exits."""

from __future__ import annotations

import sys
import traceback

from nxc.errors import NxcError


def main(argv: list[str] | None = None) -> None:
    """Run the ``nxc`` command; map :class:`NxcError` to one line and an exit code."""
    from nxc.cli.app import app, settings

    try:
        app(args=argv, prog_name="nxc")
    except NxcError as error:
        if settings.debug:
            traceback.print_exc()
        print(f"nxc: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    except OSError as error:
        if settings.debug:
            traceback.print_exc()
        where = f" ({error.filename})" if error.filename else ""
        print(
            f"nxc: error: {error.strerror or error}{where}; rerun with --debug for details",
            file=sys.stderr,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        print("nxc: interrupted", file=sys.stderr)
        sys.exit(130)
