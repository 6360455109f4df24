# nixos-test flavour: each node is a VM of nixpkgs' test framework (pkgs.testers.runNixOSTest;
# nixos/lib/testing/nodes.nix adds virtualisation/qemu-vm.nix, network.nix the addresses), booted
# straight into its own system. There is no deployment: the deployment info is made here, at
# evaluation, from the framework's own node list, and read by nxc-node from /etc/nxc/info.json
# (node-info.sh's last source), so roles find the same /run/nxc and /etc/nxc files (hostname,
# hosts, NixOS-Compose's deployment.json...) and nxc.sharedDirs its servers, as on a deployment.
# No key: the test driver reaches the nodes through its own backdoor; sshd makes its host key.
{
  config,
  lib,
  nodes,
  ...
}:
let
  hex = n: (if n < 16 then "0" else "") + lib.toHexString n;
  # nixos/lib/qemu-common.nix's qemuNicMac: the NIC of vlan V on node N
  nicMac = vlan: number: "52:54:00:12:${hex vlan}:${hex number}";
  # nodes: the framework's module argument (nodes.nix: _module.args.nodes), every node's config
  entry =
    node:
    {
      hostname = node.networking.hostName;
      role = node.nxc.role;
      # network.nix: 192.168.<first vlan>.<node number> on the first vlan's interface
      # (networking.primaryIPAddress and virtualisation.vlans, default [ 1 ]: qemu-vm.nix;
      # virtualisation.test.nodeNumber/nodeName: testing/network.nix)
      address = node.networking.primaryIPAddress;
    }
    # with a MAC, nxc-node finds its entry before the address is up, and sets the same address
    // lib.optionalAttrs (node.virtualisation.vlans != [ ]) {
      mac = nicMac (builtins.head node.virtualisation.vlans) node.virtualisation.test.nodeNumber;
    };
  info = {
    version = 1;
    deployment = "nixos-test";
    network.prefix_length = 24;
    authorized_keys = [ ];
    nodes = map entry (
      builtins.filter (node: node.networking.primaryIPAddress != "") (builtins.attrValues nodes)
    );
  };
in
{
  # the framework boots each node's own system: no stage 1 hand-over
  nxc.stage1Selection = false;
  # base.nix's mkDefault "" and network.nix's mkDefault node name would conflict; a role's own
  # hostName still wins
  networking.hostName = lib.mkOverride 999 config.virtualisation.test.nodeName;
  environment.etc."nxc/info.json".text = builtins.toJSON info;
  documentation.enable = lib.mkDefault false;
  # no nxc start to activate roles in dependency order (modules/activation.nix): every role's
  # held-back units start at boot; a test script orders them itself (wait_for_unit...)
  systemd.targets.nxc-activate.wantedBy = [ "multi-user.target" ];
}
