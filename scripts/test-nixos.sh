#!/usr/bin/env bash
# The tests that need real NixOS: Nix (2.4 or newer, flakes) with network access to nixpkgs
# and its binary cache, and /dev/kvm for the VM boots. Runs the flake's checks, then the
# `nixos`-marked tests. The hosted CI jobs (.github/workflows/nixos.yml, .gitlab-ci.yml) run
# exactly this; on a laptop with Nix run it as it is. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nix >/dev/null || { echo "test-nixos.sh: needs Nix on PATH (2.4 or newer)" >&2; exit 2; }
flakes=(--extra-experimental-features "nix-command flakes")
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH" NXC_TEST_NIX_ONLINE=1
nix "${flakes[@]}" flake check --print-build-logs
exec .venv/bin/python -m pytest -m nixos "$@"
