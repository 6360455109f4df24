# nxc node contract, stage 2 (also the whole job in containers): apply this node's entry.
# Sourced with NXC_NODE_INFO naming node-info.sh; needs jq, ip, hostname, install, ssh-keygen.
# NXC_HOSTS_FILE and NXC_SSH_DIR default to /etc/hosts and /etc/ssh.

. "$NXC_NODE_INFO"
NXC_HOSTS_FILE=${NXC_HOSTS_FILE:-/etc/hosts}
NXC_SSH_DIR=${NXC_SSH_DIR:-/etc/ssh}

# Stage 1's findings are kept: stage-1-init.sh moves its /run into stage 2 (mount --move), and
# a host key from the info server is served only once.
if [ ! -s "$NXC_RUN/self.json" ]; then
    nxc_find_info || exit 1
    nxc_find_self || exit 1
fi
self="$NXC_RUN/self.json"
hostname=$(jq -r .hostname "$self")
address=$(jq -r .address "$self")
mac=$(jq -r '.mac // ""' "$self" | tr 'A-F' 'a-f')
prefix=$(jq -r '.network.prefix_length // 16' "$NXC_RUN/info.json")

# 2. nxc chose the address (the entry has a MAC): put it on that interface
if [ -n "$mac" ]; then
    for dev in /sys/class/net/*; do
        [ -r "$dev/address" ] || continue
        if [ "$(tr 'A-F' 'a-f' < "$dev/address")" = "$mac" ]; then
            ip link set "${dev##*/}" up
            ip addr replace "$address/$prefix" dev "${dev##*/}"
        fi
    done
fi

# 3. hostname; every node in /etc/hosts and NixOS-Compose's deployment.json, deployment-hosts
hostname "$hostname"
echo "$hostname" > "$NXC_RUN/hostname"
nxc_write_hosts "$NXC_RUN/info.json"

# 4. this node's own host key; root's authorized keys are read from $NXC_RUN/authorized_keys
if [ -s "$NXC_RUN/host_key" ]; then
    mkdir -p "$NXC_SSH_DIR"
    install -m 0600 "$NXC_RUN/host_key" "$NXC_SSH_DIR/ssh_host_ed25519_key"
    ssh-keygen -y -f "$NXC_SSH_DIR/ssh_host_ed25519_key" > "$NXC_SSH_DIR/ssh_host_ed25519_key.pub"
fi
chmod 0644 "$NXC_RUN/authorized_keys"

# 5. the shared folder
if jq -e '.shared_dir.type == "9p"' "$NXC_RUN/info.json" > /dev/null; then
    tag=$(jq -r .shared_dir.tag "$NXC_RUN/info.json")
    mkdir -p /tmp/shared
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "$tag" /tmp/shared \
        || nxc_error "cannot mount the shared folder (9p tag $tag) on /tmp/shared"
fi

# 6. NixOS-Compose's other files, which its projects' scripts and units read: role, hostname,
#    ip_addr (deployment.json and deployment-hosts are step 3's)
jq -r '.role // ""' "$self" | nxc_etc_write role
echo "$hostname" | nxc_etc_write hostname
echo "$address" | nxc_etc_write ip_addr
