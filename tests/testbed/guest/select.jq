# This node's settings from the deployment info, printed as shell assignments for `eval`.
# One jq run does it all: jq is slow to start under emulation. Arguments: $macs and $ips,
# this node's MAC and IPv4 addresses separated by spaces.
def assign($name; $value): "\($name)=\($value | if . == null then "" else tostring end | @sh)";
def first_key(match): [.nodes | to_entries[] | select(.value | match)] | .[0].key;
. as $info
| ($macs | ascii_downcase | split(" ") | map(select(length > 0))) as $my_macs
| ($ips | split(" ") | map(select(length > 0))) as $my_ips
| if (.nodes | type) != "array" then assign("valid"; "no")
  else
    (first_key(.mac as $m | $m != null and ($my_macs | index([$m | ascii_downcase])) != null)
     // first_key(.address as $a | $a != null and ($my_ips | index([$a])) != null)) as $i
    | assign("valid"; "yes"),
      if $i == null then assign("index"; null)
      else
        $info.nodes[$i] as $n
        | assign("index"; $i),
          assign("hostname"; $n.hostname),
          assign("address"; $n.address),
          assign("mac"; $n.mac // "" | ascii_downcase),
          assign("role"; $n.role),
          assign("system"; $n.system),
          assign("self_json"; $n | tojson),
          assign("prefix"; $info.network.prefix_length // 24),
          assign("shared_type"; $info.shared_dir.type),
          assign("shared_tag"; $info.shared_dir.tag // "nxcshared"),
          assign("hosts"; [$info.nodes[] | select(.address != null)
                           | "\(.address) \(.hostname)"] | join("\n")),
          assign("authorized_keys"; $info.authorized_keys // [] | join("\n"))
      end
  end
