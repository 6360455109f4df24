#!/usr/bin/env bash
# OAR job script for Grid'5000 jobs without `-t deploy` (`nxc helper g5k_script` prints its
# path, as NixOS-Compose's helper does): authorises the user's public key for root on every
# node of the job through sudo-g5k (the kexec flavours reach hosts as root), prints the nodes,
# then keeps the job alive for DURATION (first argument, or $DURATION, default 1h).
#   oarsub -l nodes=4,walltime=2:00 "$(nxc helper g5k_script) 2h"
# SSH_PUB_KEY names the key (default: ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub).
set -euo pipefail
duration=${1:-${DURATION:-1h}}
key_file=${SSH_PUB_KEY:-}
if [[ -z $key_file ]]; then
    for candidate in "$HOME/.ssh/id_ed25519.pub" "$HOME/.ssh/id_rsa.pub"; do
        if [[ -r $candidate ]]; then key_file=$candidate; break; fi
    done
fi
if [[ -z $key_file || ! -r $key_file ]]; then
    echo "g5k_root_key_job: no public key found; set SSH_PUB_KEY to one" >&2
    exit 1
fi
: "${OAR_NODEFILE:?g5k_root_key_job: run it as an OAR job script (OAR_NODEFILE is unset)}"
key=$(cat "$key_file")
authorise="sudo-g5k sh -c 'umask 077; mkdir -p /root/.ssh; grep -qxF \"\$0\" /root/.ssh/authorized_keys 2>/dev/null || printf \"%s\\n\" \"\$0\" >> /root/.ssh/authorized_keys' '$key'"
failed=0
for host in $(sort -u "$OAR_NODEFILE"); do
    oarsh "$host" "$authorise" || { echo "g5k_root_key_job: $host: could not authorise the key for root" >&2; failed=1; }
done
sort -u "$OAR_NODEFILE"
((failed == 0)) || exit 1
sleep "$duration"
