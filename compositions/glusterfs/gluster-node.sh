#!/bin/sh
# GlusterFS bootstrap of one node, from the nxc deployment info (docs/node-contract.md).
#
#   gluster-node.sh server   prepare this node's brick; the first server (first `server` entry
#                            of the info) probes the others and creates and starts the volume
#                            once every server's glusterd answers; the others wait for it
#   gluster-node.sh client   mount the volume with the FUSE client once it is started
#
# Run by the composition's systemd units on NixOS and, unchanged, by tests/storage on this
# machine's namespace hosts. Needs jq, gluster (server) or mount.glusterfs (client), and for
# the brick's disk blkid, findmnt, mkfs.xfs or mkfs.ext4, mount. Settings (environment):
#   NXC_RUN            where info.json and self.json are             (/run/nxc)
#   GLUSTER_VOLUME     distribute | replica:K | disperse:K+M         (distribute); the
#                      deployment's parameter gluster_volume, when given, wins over it
#   GLUSTER_NAME       the volume's name                             (gv0)
#   GLUSTER_ROLE       the servers' role in the info                 (server)
#   GLUSTER_BRICKS     where the brick's file system is mounted      (/srv/gluster)
#   GLUSTER_MOUNT      the clients' mount point                      (/mnt/fs)
#   GLUSTER_TIMEOUT    seconds to wait for peers, volume or mount    (540)
#   NXC_STORAGE_DEVICE a block device for the brick, or "none"; unset: the partition labelled
#                      KDPL_TMP_disk0 (Grid'5000), else /dev/vda when it is blank and unused
#                      (vm's --disk-size disk); without one the brick folder must be on a
#                      disk-backed file system (never tmpfs) unless NXC_STORAGE_ALLOW_RAM=1
set -eu

NXC_RUN=${NXC_RUN:-/run/nxc}
NAME=${GLUSTER_NAME:-gv0}
ROLE=${GLUSTER_ROLE:-server}
BRICKS=${GLUSTER_BRICKS:-/srv/gluster}
MOUNT=${GLUSTER_MOUNT:-/mnt/fs}
TIMEOUT=${GLUSTER_TIMEOUT:-540}

say() { echo "gluster-node: $*"; }
fail() {
    echo "gluster-node: error: $*" >&2
    exit 1
}

info=$NXC_RUN/info.json
[ -s "$info" ] && [ -s "$NXC_RUN/self.json" ] || fail "no deployment info in $NXC_RUN"
me=$(jq -r .address "$NXC_RUN/self.json")
# the volume type chosen at deploy time (the info's parameters), else the build's default
VOLUME=$(jq -r '.parameters.gluster_volume // empty' "$info")
VOLUME=${VOLUME:-${GLUSTER_VOLUME:-distribute}}
servers=$(jq -r --arg role "$ROLE" '.nodes[] | select(.role == $role) | .address' "$info")
[ -n "$servers" ] || fail "no node of role '$ROLE' in $info"
count=$(echo "$servers" | wc -l)
first=$(echo "$servers" | head -n 1)

# retry "what" CMD...: run CMD until it succeeds, at most $TIMEOUT seconds
retry() {
    what=$1
    shift
    end=$(($(date +%s) + TIMEOUT))
    until "$@" > /dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${TIMEOUT} s waiting for $what"
        sleep 2
    done
}

# The `gluster volume create` arguments for $VOLUME over $count servers.
layout() {
    case $VOLUME in
        distribute) ;;
        replica:*)
            k=${VOLUME#replica:}
            [ "$k" -ge 2 ] 2> /dev/null && [ $((count % k)) -eq 0 ] \
                || fail "$VOLUME needs a server count that is a multiple of $k (>= 2), not $count"
            echo "replica $k"
            ;;
        disperse:*+*)
            spec=${VOLUME#disperse:}
            k=${spec%+*} m=${spec#*+}
            [ "$k" -ge 1 ] 2> /dev/null && [ "$m" -ge 1 ] 2> /dev/null && [ "$k" -gt "$m" ] \
                && [ $((count % (k + m))) -eq 0 ] \
                || fail "$VOLUME needs K > M >= 1 and a server count multiple of K+M, not $count"
            echo "disperse $((k + m)) redundancy $m"
            ;;
        *) fail "GLUSTER_VOLUME '$VOLUME': write distribute, replica:K or disperse:K+M" ;;
    esac
}

# The device the brick goes on, or nothing.
brick_device() {
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
    # vm's --disk-size disk: whole, unpartitioned, no file system, mounted nowhere
    if [ -b /dev/vda ] && ! findmnt -rn -S /dev/vda > /dev/null \
        && [ -z "$(blkid -p -o value -s TYPE /dev/vda 2> /dev/null)" ] \
        && ! ls /sys/block/vda | grep -q '^vda[0-9]'; then
        echo /dev/vda
    fi
}

prepare_brick() {
    mkdir -p "$BRICKS"
    device=$(brick_device)
    force=
    if [ -n "$device" ]; then
        if ! findmnt -rn -M "$BRICKS" > /dev/null; then
            findmnt -rn -S "$device" > /dev/null && fail "$device is mounted elsewhere"
            if [ -z "$(blkid -p -o value -s TYPE "$device" 2> /dev/null)" ]; then
                say "formatting $device for the brick"
                if command -v mkfs.xfs > /dev/null; then mkfs.xfs -q -i size=512 "$device"; else mkfs.ext4 -q "$device"; fi
            fi
            mount "$device" "$BRICKS"
        fi
        say "brick on $device"
    else
        type=$(stat -f -c %T "$BRICKS")
        case $type in
            tmpfs | ramfs)
                [ "${NXC_STORAGE_ALLOW_RAM:-0}" = 1 ] \
                    || fail "no disk for the brick and $BRICKS is on $type (RAM): give the node a disk (vm: --disk-size) or set NXC_STORAGE_ALLOW_RAM=1"
                say "warning: brick in RAM ($BRICKS is $type), as NXC_STORAGE_ALLOW_RAM asks"
                ;;
        esac
        # gluster refuses a brick on the root file system without `force`
        force=force
        say "brick in $BRICKS ($type, no dedicated disk)"
    fi
    mkdir -p "$BRICKS/brick"
}

peer_connected() {
    gluster --mode=script pool list | awk -v peer="$1" '$2 == peer && $3 == "Connected" { found = 1 } END { exit !found }'
}

volume_started() {
    gluster --mode=script volume info "$NAME" | grep -q '^Status: Started'
}

server() {
    prepare_brick
    retry "the local glusterd" gluster --mode=script pool list
    if [ "$me" = "$first" ]; then
        args=$(layout)
        for peer in $servers; do
            [ "$peer" = "$me" ] && continue
            retry "glusterd on $peer" gluster --mode=script peer probe "$peer"
            retry "peer $peer connected" peer_connected "$peer"
        done
        if ! gluster --mode=script volume info "$NAME" > /dev/null 2>&1; then
            bricks=$(for server in $servers; do printf '%s:%s/brick ' "$server" "$BRICKS"; done)
            say "creating $NAME: ${args:-distribute} over $count servers"
            # shellcheck disable=SC2086 # word splitting of the layout and brick list is wanted
            gluster --mode=script volume create "$NAME" $args transport tcp $bricks $force
        fi
        volume_started || gluster --mode=script volume start "$NAME"
    fi
    retry "volume $NAME started" volume_started
    say "volume $NAME started"
}

client() {
    # the FUSE client logs there; on servers glusterd's unit makes it
    mkdir -p "$MOUNT" /var/log/glusterfs
    if ! findmnt -rn -M "$MOUNT" > /dev/null; then
        backups=$(echo "$servers" | tail -n +2 | paste -sd: -)
        options=${backups:+backup-volfile-servers=$backups}
        end=$(($(date +%s) + TIMEOUT))
        until mount.glusterfs "$first:/$NAME" "$MOUNT" ${options:+-o "$options"} 2> /dev/null \
            && findmnt -rn -M "$MOUNT" > /dev/null && ls "$MOUNT" > /dev/null; do
            findmnt -rn -M "$MOUNT" > /dev/null && umount "$MOUNT" || true
            [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${TIMEOUT} s mounting $first:/$NAME"
            sleep 3
        done
    fi
    say "$first:/$NAME mounted on $MOUNT"
}

case ${1:-} in
    server) server ;;
    client) client ;;
    *) fail "usage: gluster-node.sh server|client" ;;
esac
