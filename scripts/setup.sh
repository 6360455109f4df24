#!/usr/bin/env bash
# Set up a machine for nxc: system packages (Debian) and nxc itself in ./.venv.
# Usage: scripts/setup.sh              # what the local flavours need + nxc
#        scripts/setup.sh --with-tests # also what the test suite starts (Docker, OAR, ...)
#        scripts/setup.sh --no-apt     # only the Python side
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    python3-venv python3-pip          # nxc itself
    nix-bin                            # nxc build: Nix (flakes are enabled by nxc's own flags)
    qemu-system-x86 qemu-utils vde2    # vm flavour
    openssh-client                     # transport, nxc connect
    tmux                               # nxc connect
    busybox-static cpio                # test-bed guest (the local main job, scripts/demo.sh)
)
test_packages=(
    openssh-server iproute2            # namespace test hosts running sshd
    fio                                # nxc bench tests: fio runs on namespace hosts
    jq                                 # tests of the NixOS node-contract script (tests/nix)
    systemd-container                  # driver tests: a real systemd node (systemd-nspawn)
    docker.io                          # docker flavour (tests start their own dockerd)
    kexec-tools zstd                   # test-bed guest variants, kexec tests
    oar-server oar-server-pgsql oar-node oar-user postgresql   # Grid'5000 stand-in (OAR)
    nfs-ganesha nfs-ganesha-vfs rpcbind   # g5k-nfs-store tests: user-space NFS server (no nfsd)
    taktuk                             # tree broadcast to many hosts (Grid'5000 scale tests)
    netcat-traditional                 # execo ChainPut in benchmarks/scale.py (and its test)
    glusterfs-server glusterfs-client  # storage compositions: real GlusterFS daemons
    ceph-mon ceph-osd ceph-mds ceph-mgr ceph-common ceph-fuse   # storage compositions: real Ceph daemons (FUSE client: no kernel ceph here)
)

apt=yes
case "${1:-}" in
    --no-apt) apt=no ;;
    --with-tests) packages+=("${test_packages[@]}") ;;
    "") ;;
    *) echo "setup.sh: unknown option '$1' (use --with-tests or --no-apt)" >&2; exit 2 ;;
esac

if [[ $apt == yes ]]; then
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
