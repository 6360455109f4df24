# nxc node contract: the deployment's nodes changed while it runs (nodes added or removed).
# Run as `nxc-hosts-update FILE`, FILE a JSON document whose "nodes" list (the deployment
# info's) replaces this node's; with NXC_NODE_INFO naming node-info.sh. Rewrites
# $NXC_RUN/info.json, /etc/hosts and NixOS-Compose's /etc/nxc files listing the nodes, then,
# under systemd, starts nxc-hosts-changed.service: the units a composition wants there run
# again each time (docs/elastic.md). Needs jq, cat, mv, rm; prints one line on bad input.

. "$NXC_NODE_INFO"

update=${1:-}
if [ -z "$update" ] || [ ! -r "$update" ]; then
    echo "nxc-hosts-update: give the file of the new nodes list (got '${update}')" >&2
    exit 2
fi
if ! jq -e '.nodes | type == "array" and all(.[]; .hostname and .address)' "$update" \
    > /dev/null 2>&1; then
    echo "nxc-hosts-update: $update has no nodes list of hostnames and addresses" >&2
    exit 2
fi
if [ ! -s "$NXC_RUN/info.json" ]; then
    echo "nxc-hosts-update: no deployment info in $NXC_RUN/info.json: is this an nxc node?" >&2
    exit 1
fi

# The info may hold the root key (vm, docker): the new one keeps its mode.
umask 077
jq --slurpfile update "$update" '.nodes = $update[0].nodes' "$NXC_RUN/info.json" \
    > "$NXC_RUN/.info.json.tmp"
cat "$NXC_RUN/.info.json.tmp" > "$NXC_RUN/info.json"
rm -f "$NXC_RUN/.info.json.tmp"
umask 022
nxc_write_hosts "$NXC_RUN/info.json"

if [ -d /run/systemd/system ] && command -v systemctl > /dev/null 2>&1 \
    && systemctl cat nxc-hosts-changed.service > /dev/null 2>&1; then
    systemctl start --no-block nxc-hosts-changed.service
fi
