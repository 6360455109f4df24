#!/usr/bin/env bash
# Set up everything the tests need, then run lint, the type checker and the test suite.
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not vm and not oar and not docker"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --with-tests
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/ruff check nxc tests benchmarks
.venv/bin/mypy
if (($#)); then
    .venv/bin/python -m pytest "$@"
else
    .venv/bin/python -m pytest -m "not nixos"
fi
