# nxc.sharedDirs on a node (modules/shared-dirs.nix): mount one shared directory at boot.
# Sourced after node-info.sh (NXC_RUN, nxc_error), with the arguments of the unit:
#   nfs  DIR SERVER TIMEOUT [UID:HOME ...]   mount SERVER's export of DIR on DIR, retrying every
#                                            2 s for TIMEOUT seconds
#   bind DIR export|mount [UID:HOME ...]     containers: DIR is a folder of the deployment's
#                                            shared folder (the exporter's files copied there
#                                            once per deployment)
# then creates each HOME (mode 0700, owned by UID and group users) that the share lacks.
# SERVER is a role (its first node in the deployment info), a hostname of the deployment, or
# anything mount.nfs resolves. Needs jq, mount.nfs, mount, mountpoint, cp, touch, install,
# date, sleep.

nxc_server_address() {
    if [ -r "$NXC_RUN/info.json" ]; then
        found=$(jq -r --arg name "$1" \
            '[(.nodes[] | select(.role == $name)), (.nodes[] | select(.hostname == $name))]
             | .[0].address // ""' "$NXC_RUN/info.json")
        if [ -n "$found" ]; then
            printf '%s' "$found"
            return 0
        fi
    fi
    printf '%s' "$1"
}

nxc_make_homes() {
    for spec in "$@"; do
        uid=${spec%%:*}
        home=${spec#*:}
        [ -d "$home" ] || install -d -m 0700 -o "$uid" -g users "$home"
    done
}

nxc_mount_nfs() {
    dir=$1 server=$2 timeout=$3
    address=$(nxc_server_address "$server")
    deadline=$(( $(date +%s) + timeout ))
    mkdir -p "$dir"
    mountpoint -q "$dir" && return 0
    # NFS v4 only: no rpcbind or statd needed on this side
    until error=$(mount.nfs "$address:$dir" "$dir" -o "${NXC_NFS_OPTIONS:-vers=4}" 2>&1); do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            nxc_error "cannot mount $dir from $server ($address:$dir) within ${timeout}s: $error"
            return 1
        fi
        sleep 2
    done
}

nxc_mount_bind() {
    dir=$1 side=$2
    root=$(jq -r 'if .shared_dir.type == "bind" then .shared_dir.path else "" end' \
        "$NXC_RUN/info.json")
    if [ -z "$root" ]; then
        nxc_error "cannot share $dir: the deployment info has no bind shared folder"
        return 1
    fi
    store="$root/.nxc-shared-dirs$dir"
    mkdir -p "$store" "$dir"
    mountpoint -q "$dir" && return 0
    # once per deployment (a restarted exporter keeps the share as it is); what a client put
    # there first (homes) gives way to the exporter's files
    if [ "$side" = export ] && [ ! -e "$store.exported" ]; then
        cp -a "$dir/." "$store/"
        touch "$store.exported"
    fi
    mount --bind "$store" "$dir"
}

case ${1:-} in
    nfs)
        [ $# -ge 4 ] || { nxc_error "shared-dirs: nfs DIR SERVER TIMEOUT [UID:HOME ...]"; exit 2; }
        nxc_mount_nfs "$2" "$3" "$4" || exit 1
        shift 4
        ;;
    bind)
        [ $# -ge 3 ] || { nxc_error "shared-dirs: bind DIR export|mount [UID:HOME ...]"; exit 2; }
        nxc_mount_bind "$2" "$3" || exit 1
        shift 3
        ;;
    *)
        nxc_error "shared-dirs: unknown mode '${1:-}' (nfs or bind)"
        exit 2
        ;;
esac
nxc_make_homes "$@"
