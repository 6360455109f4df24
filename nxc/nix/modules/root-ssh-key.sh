# nxc.root-sshKeys (modules/root-ssh-key.nix): the deployment's root key pair on a node.
# Sourced after node-info.sh (NXC_RUN, nxc_error) with one argument:
#   install  root's ~/.ssh gets the pair of the deployment info's `root_ssh_key`: id_ed25519
#            (0600), id_ed25519.pub, the public key in authorized_keys (the one an earlier
#            deployment put there removed), and known_hosts rewritten with every node that has
#            a `host_public_key` ("hostname,address key"); then does what scrub does
#            (run again once it is removed: nothing to do if that pair is installed)
#   scrub    removes the private key from $NXC_RUN/info.json, which every local user can read
# Deployment info fields (docs/nix-library.md):
#   "root_ssh_key": {"private": "<OpenSSH private key>", "public": "ssh-ed25519 AAAA... comment"}
#   or, where the info goes by URL: {"public": "...", "fetch": "root_key"}: the private key is
#   fetched once from the info server, beside nxc.host_key_url (".../root_key/NAME")
#   "nodes": [{..., "host_public_key": "ssh-ed25519 AAAA..."}]
# NXC_ROOT_HOME defaults to /root. Needs jq, ssh-keygen, install, mv, grep, cut (and curl or
# wget to fetch the key).

info="$NXC_RUN/info.json"
NXC_ROOT_HOME=${NXC_ROOT_HOME:-/root}

nxc_root_key_install() {
    ssh_dir="$NXC_ROOT_HOME/.ssh"
    if ! jq -e '.root_ssh_key.private | strings' "$info" > /dev/null; then
        public=$(jq -r '.root_ssh_key.public // ""' "$info")
        if [ -n "$public" ] && [ -s "$ssh_dir/id_ed25519" ] \
            && [ "$(cat "$ssh_dir/id_ed25519.pub" 2> /dev/null)" = "$public" ]; then
            return 0 # installed earlier in this boot (or from the disk), which took the key
        fi
        if ! jq -e '.root_ssh_key.fetch == "root_key"' "$info" > /dev/null 2>&1; then
            nxc_error "nxc.root-sshKeys.enable is set but the deployment info has no root_ssh_key.private (nxc too old?)"
            return 1
        fi
    fi
    install -d -m 0700 "$ssh_dir"
    if jq -e '.root_ssh_key.private | strings' "$info" > /dev/null; then
        (
            umask 077
            jq -r '.root_ssh_key.private | rtrimstr("\n")' "$info" > "$ssh_dir/.id_ed25519.tmp"
        )
    elif ! nxc_root_key_fetch "$ssh_dir/.id_ed25519.tmp"; then
        rm -f "$ssh_dir/.id_ed25519.tmp"
        nxc_error "cannot fetch the deployment's root key from the info server (served once)"
        return 1
    fi
    if ! derived=$(ssh-keygen -y -f "$ssh_dir/.id_ed25519.tmp" 2> /dev/null); then
        rm -f "$ssh_dir/.id_ed25519.tmp"
        nxc_error "root_ssh_key.private of the deployment info is not an unencrypted OpenSSH private key"
        return 1
    fi
    public=$(jq -r '.root_ssh_key.public // ""' "$info")
    if [ -z "$public" ]; then
        public=$derived
    elif [ "$(printf '%s\n' "$public" | cut -d' ' -f1-2)" != "$(printf '%s\n' "$derived" | cut -d' ' -f1-2)" ]; then
        rm -f "$ssh_dir/.id_ed25519.tmp"
        nxc_error "root_ssh_key.public of the deployment info is not the public half of its private key"
        return 1
    fi
    mv -f "$ssh_dir/.id_ed25519.tmp" "$ssh_dir/id_ed25519"

    keys="$ssh_dir/authorized_keys"
    touch "$keys"
    if [ -s "$ssh_dir/id_ed25519.pub" ]; then
        grep -vxF -f "$ssh_dir/id_ed25519.pub" "$keys" > "$keys.tmp" || true
    else
        cat "$keys" > "$keys.tmp"
    fi
    printf '%s\n' "$public" >> "$keys.tmp"
    chmod 0600 "$keys.tmp"
    mv -f "$keys.tmp" "$keys"
    printf '%s\n' "$public" > "$ssh_dir/id_ed25519.pub"
    chmod 0644 "$ssh_dir/id_ed25519.pub"

    jq -r '.nodes[] | select(.host_public_key) | "\(.hostname),\(.address) \(.host_public_key)"' \
        "$info" > "$ssh_dir/known_hosts.tmp"
    chmod 0644 "$ssh_dir/known_hosts.tmp"
    mv -f "$ssh_dir/known_hosts.tmp" "$ssh_dir/known_hosts"
}

# Where the info goes by URL (its token on the kernel command line), the pair is not in it
# ("fetch": "root_key"): the info server hands it out beside this node's host key, once, to
# this node's address. The URL is never printed (it holds the deployment's token).
nxc_root_key_fetch() {
    url=$(nxc_cmdline_value nxc.host_key_url) || return 1
    url="${url%/host_key/*}/root_key/${url##*/host_key/}"
    tries=10
    until (umask 077 && nxc_fetch "$url" > "$1") && [ -s "$1" ]; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 2
    done
}

nxc_root_key_scrub() {
    if jq -e '.root_ssh_key.private' "$info" > /dev/null 2>&1; then
        jq 'del(.root_ssh_key.private)' "$info" > "$info.tmp"
        mv -f "$info.tmp" "$info"
    fi
}

case ${1:-} in
    install)
        status=0
        nxc_root_key_install || status=1
        nxc_root_key_scrub
        exit "$status"
        ;;
    scrub)
        nxc_root_key_scrub
        ;;
    *)
        nxc_error "root-ssh-key: unknown mode '${1:-}' (install or scrub)"
        exit 2
        ;;
esac
