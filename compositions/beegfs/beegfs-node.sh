#!/bin/sh
# BeeGFS 7.4 bootstrap of one node, from the nxc deployment info (docs/node-contract.md).
#
#   beegfs-node.sh prepare mgmt|meta|storage|client
#       write this node's daemon configuration in $BEEGFS_CONF (sysMgmtdHost: the address of
#       the first `mgmt` node of the info), and for meta/storage the store on this node's disk
#       with numeric ids from the node's rank in its role (meta N: nodeNumID N; storage N:
#       nodeNumID N, targetNumID N), so ids never depend on registration order
#   beegfs-node.sh mount
#       client: wait until every meta and storage node of the info is registered with the
#       management daemon, then mount BeeGFS on $BEEGFS_MOUNT
#
# Run by the composition's systemd units (module.nix) on NixOS; `prepare` is also run by
# tests/storage on this machine (BeeGFS itself is not packaged here). Needs jq, blkid, findmnt,
# mount, mkfs.xfs or mkfs.ext4, and beegfs-ctl for `mount`. Settings (environment):
#   NXC_RUN            where info.json and self.json are                  (/run/nxc)
#   BEEGFS_CONF        where the generated configuration files go         (/run/beegfs)
#   BEEGFS_STATE       the management daemon's store                      (/var/lib/beegfs)
#   BEEGFS_DATA        where the meta/storage store's file system is      (/srv/beegfs)
#   BEEGFS_MOUNT       the clients' mount point                           (/mnt/fs)
#   BEEGFS_TIMEOUT     seconds to wait for the servers                    (540)
#   NXC_STORAGE_DEVICE a block device for the store, or "none"; unset: the partition labelled
#                      KDPL_TMP_disk0, else /dev/vda when blank and unused; without one the
#                      store must be disk-backed (never tmpfs) unless NXC_STORAGE_ALLOW_RAM=1
set -eu

NXC_RUN=${NXC_RUN:-/run/nxc}
CONF=${BEEGFS_CONF:-/run/beegfs}
STATE=${BEEGFS_STATE:-/var/lib/beegfs}
DATA=${BEEGFS_DATA:-/srv/beegfs}
MOUNT=${BEEGFS_MOUNT:-/mnt/fs}
TIMEOUT=${BEEGFS_TIMEOUT:-540}

say() { echo "beegfs-node: $*"; }
fail() {
    echo "beegfs-node: error: $*" >&2
    exit 1
}

info=$NXC_RUN/info.json
[ -s "$info" ] && [ -s "$NXC_RUN/self.json" ] || fail "no deployment info in $NXC_RUN"
me=$(jq -r .hostname "$NXC_RUN/self.json")
addresses() { jq -r --arg role "$1" '.nodes[] | select(.role == $role) | .address' "$info"; }
mgmt=$(addresses mgmt | head -n 1)
[ -n "$mgmt" ] || fail "no node of role 'mgmt' in $info"

# rank ROLE: this node's 1-based position among the ROLE nodes of the info
rank() {
    jq -r --arg role "$1" --arg me "$me" \
        '[.nodes[] | select(.role == $role) | .hostname] | index($me) // empty | . + 1' "$info"
}

# conf NAME KEY=VALUE...: write $CONF/beegfs-NAME.conf
conf() {
    name=$1
    shift
    mkdir -p "$CONF"
    printf '%s\n' "$@" | sed 's/=/ = /' > "$CONF/beegfs-$name.conf.tmp"
    mv -f "$CONF/beegfs-$name.conf.tmp" "$CONF/beegfs-$name.conf"
    say "wrote $CONF/beegfs-$name.conf"
}

# Settings every daemon shares. No connAuthFile: the deployment's network is trusted, as for
# the other compositions; RDMA off (the client module is built without it).
COMMON="connDisableAuthentication=true connUseRDMA=false"

store_device() {
    case ${NXC_STORAGE_DEVICE:-} in
        none) return 0 ;;
        /*)
            echo "$NXC_STORAGE_DEVICE"
            return 0
            ;;
    esac
    for label in /dev/disk/by-label/KDPL_TMP_disk0 /dev/disk/by-partlabel/KDPL_TMP_disk0; do
        if [ -b "$label" ]; then
            readlink -f "$label"
            return 0
        fi
    done
    if [ -b /dev/vda ] && ! findmnt -rn -S /dev/vda > /dev/null \
        && [ -z "$(blkid -p -o value -s TYPE /dev/vda 2> /dev/null)" ] \
        && ! ls /sys/block/vda | grep -q '^vda[0-9]'; then
        echo /dev/vda
    fi
}

# prepare_store: $DATA on the node's disk, or disk-backed storage, never silently RAM
prepare_store() {
    mkdir -p "$DATA"
    device=$(store_device)
    if [ -n "$device" ]; then
        if ! findmnt -rn -M "$DATA" > /dev/null; then
            findmnt -rn -S "$device" > /dev/null && fail "$device is mounted elsewhere"
            if [ -z "$(blkid -p -o value -s TYPE "$device" 2> /dev/null)" ]; then
                say "formatting $device"
                if command -v mkfs.xfs > /dev/null; then mkfs.xfs -q "$device"; else mkfs.ext4 -q "$device"; fi
            fi
            mount "$device" "$DATA"
        fi
        say "store on $device"
        return 0
    fi
    type=$(stat -f -c %T "$DATA")
    case $type in
        tmpfs | ramfs)
            [ "${NXC_STORAGE_ALLOW_RAM:-0}" = 1 ] \
                || fail "no disk for the store and $DATA is on $type (RAM): give the node a disk (vm: --disk-size) or set NXC_STORAGE_ALLOW_RAM=1"
            say "warning: store in RAM ($DATA is $type), as NXC_STORAGE_ALLOW_RAM asks"
            ;;
        *) say "store in $DATA ($type, no dedicated disk)" ;;
    esac
}

# id_file DIR NAME VALUE: BeeGFS' id files (as beegfs-setup-storage writes them), kept if set
id_file() {
    [ -s "$1/$2" ] || echo "$3" > "$1/$2"
    [ "$(cat "$1/$2")" = "$3" ] || fail "$1/$2 holds $(cat "$1/$2"), not $3"
}

prepare() {
    case $1 in
        mgmt)
            mkdir -p "$STATE/mgmtd"
            # shellcheck disable=SC2086 # COMMON is a list of settings
            conf mgmtd "storeMgmtdDirectory=$STATE/mgmtd" storeAllowFirstRunInit=true \
                logType=syslog $COMMON
            ;;
        meta | storage)
            n=$(rank "$1")
            [ -n "$n" ] || fail "$me is not a node of role '$1'"
            prepare_store
            store=$DATA/$1
            mkdir -p "$store"
            id_file "$store" nodeNumID "$n"
            id_file "$store" nodeID "$me"
            if [ "$1" = storage ]; then
                id_file "$store" targetNumID "$n"
                id_file "$store" targetID "$me"
                key=storeStorageDirectory
            else
                key=storeMetaDirectory
            fi
            # shellcheck disable=SC2086
            conf "$1" "sysMgmtdHost=$mgmt" "$key=$store" storeAllowFirstRunInit=true \
                logType=syslog $COMMON
            ;;
        client)
            # shellcheck disable=SC2086
            conf helperd logType=syslog $COMMON
            # shellcheck disable=SC2086
            conf client "sysMgmtdHost=$mgmt" logType=helperd $COMMON
            ;;
        *) fail "role '$1': write mgmt, meta, storage or client" ;;
    esac
}

registered() {
    want=$(addresses "$1" | wc -l)
    have=$(beegfs-ctl "--cfgFile=$CONF/beegfs-client.conf" --listnodes "--nodetype=$1" | grep -c '\[ID: ')
    [ "$have" -ge "$want" ]
}

client_mount() {
    end=$(($(date +%s) + TIMEOUT))
    until registered meta 2> /dev/null && registered storage 2> /dev/null; do
        [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${TIMEOUT} s waiting for every meta and storage node to register with $mgmt"
        sleep 2
    done
    mkdir -p "$MOUNT"
    findmnt -rn -M "$MOUNT" > /dev/null \
        || mount -t beegfs beegfs_nodev "$MOUNT" -o "cfgFile=$CONF/beegfs-client.conf,_netdev"
    say "BeeGFS of $mgmt mounted on $MOUNT"
}

case ${1:-} in
    prepare) prepare "${2:-}" ;;
    mount) client_mount ;;
    *) fail "usage: beegfs-node.sh prepare mgmt|meta|storage|client | beegfs-node.sh mount" ;;
esac
