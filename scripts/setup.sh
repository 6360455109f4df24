#!/usr/bin/env bash
# Set up a machine for nxc: system packages (Debian) and nxc itself in ./.venv.
# Usage: scripts/setup.sh            # packages for the local flavours + nxc
#        scripts/setup.sh --no-apt   # only the Python side
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    python3-venv python3-pip          # nxc itself
    nix-bin                            # nxc build: Nix (flakes are enabled by nxc's own flags)
    qemu-system-x86 qemu-utils vde2    # vm flavour
    openssh-client openssh-server      # transport; sshd for the namespace test hosts
    fio                                # nxc bench tests: fio runs on namespace hosts
    tmux                               # nxc connect
    jq                                 # tests of the NixOS node-contract script (tests/nix)
    systemd-container                  # driver tests: a real systemd node (systemd-nspawn)
    docker.io                          # docker flavour (tests start their own dockerd)
    iproute2 busybox-static cpio kexec-tools zstd   # test-bed guest and network namespaces
    oar-server oar-server-pgsql oar-node oar-user postgresql   # Grid'5000 stand-in (OAR) for tests
)

if [[ "${1:-}" != "--no-apt" ]]; then
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
    missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
fi

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "nxc installed: $(.venv/bin/nxc --version) (activate with: source .venv/bin/activate)"
