#!/usr/bin/env bash
# The main job end to end on this machine, in the test-bed fixture project
# (tests/fixtures/testbed, see docs/testbed-fixture.md):
#
#   nxc build -f vm && nxc start -r node=3 && nxc driver -t && nxc stop
#
# a real Nix build, real QEMU VMs booting the test-bed guest, and the composition's test
# script. Before that it builds the guest and copies the Nix library into the fixture
# (tests/fixtures/testbed/prepare.sh). The nodes are stopped (nxc stop) even when a step fails
# or the script is interrupted once `nxc start` has begun.
#
# Usage: scripts/demo.sh [NODES]      NODES defaults to 3
# Environment: NXC (the nxc program; default .venv/bin/nxc, else nxc on PATH).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
fixture=$repo/tests/fixtures/testbed
nodes=${1:-3}

if ! [[ $nodes =~ ^[1-9][0-9]*$ ]]; then
    echo "demo.sh: NODES must be a positive number, got '$nodes' (usage: scripts/demo.sh [NODES])" >&2
    exit 2
fi
if [[ -n ${NXC:-} ]]; then
    nxc_program=$NXC
elif [[ -x $repo/.venv/bin/nxc ]]; then
    nxc_program=$repo/.venv/bin/nxc
elif command -v nxc >/dev/null; then
    nxc_program=$(command -v nxc)
else
    echo "demo.sh: nxc is not installed; run scripts/setup.sh first" >&2
    exit 2
fi
python_program=$(dirname "$nxc_program")/python
[[ -x $python_program ]] || python_program=python3

# No binary cache is needed (nothing comes from nixpkgs); the builders run /bin/busybox
# (busybox-static), which Nix's sandbox must see.
export NXC_NIX_OFFLINE=${NXC_NIX_OFFLINE:-1}
export NIX_CONFIG="${NIX_CONFIG:+$NIX_CONFIG
}extra-sandbox-paths = /bin/busybox"

total_steps=5
step_number=0
started=no
demo_start=$SECONDS

step() { # step TITLE: announce the next step
    step_number=$((step_number + 1))
    step_start=$SECONDS
    printf '\n==> [%d/%d] %s\n' "$step_number" "$total_steps" "$1" >&2
}

done_step() {
    printf '==> [%d/%d] done in %d s\n' "$step_number" "$total_steps" $((SECONDS - step_start)) >&2
}

run() { # run ARGS...: show the command, run it in the fixture
    printf '$ %s\n' "$*" >&2
    (cd "$fixture" && "$@")
}

nxc() { run "$nxc_program" "$@"; }

cleanup() {
    status=$?
    trap - EXIT INT TERM
    if [[ $started == yes ]]; then
        printf '\n==> cleaning up: nxc stop\n' >&2
        if ! (cd "$fixture" && "$nxc_program" stop); then
            echo "demo.sh: nxc stop failed; see 'nxc status' in $fixture" >&2
            ((status)) || status=1
        fi
    fi
    if ((status)); then
        printf '\n==> demo FAILED at step %d/%d after %d s (exit %d)\n' \
            "$step_number" "$total_steps" $((SECONDS - demo_start)) "$status" >&2
        echo "    logs: $fixture/build/*.log, $fixture/deploy/*.d/logs/" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "test-bed guest and Nix library into the fixture"
PYTHON=$python_program run "$fixture/prepare.sh"
done_step

step "nxc build -f vm (real Nix build through the nxc library)"
nxc build -f vm
done_step

step "nxc start -r node=$nodes (QEMU VMs booting the test-bed guest)"
started=yes
nxc start -r "node=$nodes"
done_step

step "nxc driver -t (the composition's test script)"
nxc driver -t
done_step

step "nxc stop"
started=no
nxc stop
done_step

printf '\n==> demo passed: %d node(s) built, started, tested and stopped in %d s\n' \
    "$nodes" $((SECONDS - demo_start)) >&2
