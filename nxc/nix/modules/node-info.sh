# nxc node contract, shared by stage 1 (busybox) and stage 2 (coreutils): find this node's
# deployment info and host key, pick its own entry, write them under $NXC_RUN (default
# /run/nxc): info.json, self.json, host_key (mode 0600), authorized_keys. Needs jq, base64,
# ip, tr, cut, and curl or wget.
# Sourced, not executed: sets NXC_SYSTEM to the role system of this node ("" if none).

NXC_RUN=${NXC_RUN:-/run/nxc}
NXC_FW_CFG=${NXC_FW_CFG:-/sys/firmware/qemu_fw_cfg/by_name/opt/nxc}
NXC_CMDLINE=${NXC_CMDLINE:-/proc/cmdline}
NXC_ETC=${NXC_ETC:-/etc/nxc}
NXC_CONSOLES=${NXC_CONSOLES-/dev/console /dev/ttyS0}
NXC_SYSTEM=""

# Its loop variable is not `console`: stage 1's fail() opens its rescue shell on /dev/$console.
nxc_error() {
    echo "nxc-error: $*" >&2
    for nxc_console in $NXC_CONSOLES; do
        [ -w "$nxc_console" ] && echo "nxc-error: $*" > "$nxc_console" 2>/dev/null
    done
    return 1
}

# base64url (padding optional) on stdin -> bytes on stdout
nxc_b64url_decode() {
    data=$(tr -- '-_' '+/' | tr -d '\n')
    case $(( ${#data} % 4 )) in
        2) data="$data==" ;;
        3) data="$data=" ;;
    esac
    printf '%s' "$data" | base64 -d
}

nxc_cmdline_value() {
    for word in $(cat "$NXC_CMDLINE"); do
        case $word in
            "$1"=*) printf '%s' "${word#*=}"; return 0 ;;
        esac
    done
    return 1
}

nxc_fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 10 "$1"
    else
        wget -q -T 10 -O - "$1"
    fi
}

nxc_find_info() {
    mkdir -p "$NXC_RUN"
    chmod 0755 "$NXC_RUN"
    if [ -r "$NXC_FW_CFG/info/raw" ]; then
        cat "$NXC_FW_CFG/info/raw" > "$NXC_RUN/info.json"
    elif value=$(nxc_cmdline_value nxc.info); then
        printf '%s' "$value" | nxc_b64url_decode > "$NXC_RUN/info.json"
    elif url=$(nxc_cmdline_value nxc.info_url); then
        tries=60
        until nxc_fetch "$url" > "$NXC_RUN/info.json"; do
            tries=$((tries - 1))
            [ "$tries" -gt 0 ] || { nxc_error "cannot fetch deployment info from $url"; return 1; }
            sleep 2
        done
    elif [ -r "$NXC_ETC/info.json" ]; then
        cat "$NXC_ETC/info.json" > "$NXC_RUN/info.json"
    else
        nxc_error "no deployment info (fw_cfg opt/nxc/info, nxc.info= or nxc.info_url=)"
        return 1
    fi
    # The host key is root's alone: umask 077 before anything of it is written.
    umask 077
    if [ -r "$NXC_FW_CFG/host_key/raw" ]; then
        cat "$NXC_FW_CFG/host_key/raw" > "$NXC_RUN/host_key"
    elif url=$(nxc_cmdline_value nxc.host_key_url); then
        nxc_fetch_host_key "$url"
    elif [ -r "$NXC_ETC/host_key" ]; then
        cat "$NXC_ETC/host_key" > "$NXC_RUN/host_key"
    fi
    umask 022
    jq -r '.authorized_keys[]?' "$NXC_RUN/info.json" > "$NXC_RUN/authorized_keys"
}

# The info server hands a node's key out once, to that node's address: a node booted again
# from its disk (g5k-image) finds it taken and keeps the key it installed the first time.
# Failing is reported, not fatal. The URL is never printed (it holds the deployment's token).
nxc_fetch_host_key() {
    tries=10
    until nxc_fetch "$1" > "$NXC_RUN/host_key.part" && [ -s "$NXC_RUN/host_key.part" ]; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            rm -f "$NXC_RUN/host_key.part"
            nxc_error "cannot fetch this node's host key from nxc.host_key_url (served once)"
            return 0
        fi
        sleep 2
    done
    mv -f "$NXC_RUN/host_key.part" "$NXC_RUN/host_key"
}

nxc_find_self() {
    macs=$(cat /sys/class/net/*/address 2>/dev/null | tr 'A-F' 'a-f' | tr '\n' ' ')
    addresses=$(ip addr show 2>/dev/null | while read -r kind address _; do
        case $kind in
            inet | inet6) printf '%s ' "${address%/*}" ;;
        esac
    done)
    count=$(jq '.nodes | length' "$NXC_RUN/info.json")
    i=0
    found=""
    while [ "$i" -lt "$count" ]; do
        mac=$(jq -r ".nodes[$i].mac // \"\"" "$NXC_RUN/info.json" | tr 'A-F' 'a-f')
        if [ -n "$mac" ] && case " $macs " in *" $mac "*) true ;; *) false ;; esac; then
            found=$i
            break
        fi
        i=$((i + 1))
    done
    if [ -z "$found" ]; then
        i=0
        while [ "$i" -lt "$count" ]; do
            address=$(jq -r ".nodes[$i].address // \"\"" "$NXC_RUN/info.json")
            case " $addresses " in
                *" $address "*) found=$i; break ;;
            esac
            i=$((i + 1))
        done
    fi
    if [ -z "$found" ]; then
        nxc_error "no entry for this node (macs $macs, addresses $addresses)"
        return 1
    fi
    jq ".nodes[$found]" "$NXC_RUN/info.json" > "$NXC_RUN/self.json"
    NXC_SYSTEM=$(jq -r '.system // ""' "$NXC_RUN/self.json")
}

# Stage 2 and nxc-hosts-update (hosts-update.sh): every node of the info file $1 in
# $NXC_HOSTS_FILE (default /etc/hosts) and in NixOS-Compose's files that list them,
# $NXC_ETC/deployment.json ({"deployment": {address: {role, host}}, "ssh_key.pub"}) and
# deployment-hosts. /etc/hosts is rewritten in place: a container's is a bind mount.
nxc_etc_write() {
    cat > "$NXC_ETC/.$1.tmp" && mv -f "$NXC_ETC/.$1.tmp" "$NXC_ETC/$1"
}

nxc_write_hosts() {
    {
        echo "127.0.0.1 localhost"
        echo "::1 localhost"
        jq -r '.nodes[] | "\(.address) \(.hostname)"' "$1"
    } > "$NXC_RUN/.hosts.tmp"
    cat "$NXC_RUN/.hosts.tmp" > "${NXC_HOSTS_FILE:-/etc/hosts}"
    rm -f "$NXC_RUN/.hosts.tmp"
    mkdir -p "$NXC_ETC"
    jq '{deployment: (.nodes | map({key: .address, value: {role: (.role // ""), host: .hostname}})
         | from_entries), "ssh_key.pub": (.authorized_keys[0]? // "")}' "$1" \
        | nxc_etc_write deployment.json
    jq -r '.nodes[] | "\(.address) \(.hostname)"' "$1" | nxc_etc_write deployment-hosts
}
