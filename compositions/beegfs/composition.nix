# BeeGFS 7.4.6: roles `mgmt` (the management daemon; one node), `meta` (N metadata servers),
# `storage` (N storage servers, one target each) and `client` (the kernel client at /mnt/fs,
# beegfs-helperd, fio for `nxc bench`). BeeGFS is packaged here (beegfs.nix: daemons and
# beegfs-ctl; beegfs-client-module.nix: the client module for the booted kernel; overlay.nix),
# with a NixOS module per role (module.nix); every node boots Linux 6.6 (common.nix), as 7.4.6's
# client module supports kernels up to 6.11.
#
# The nodes form it themselves (beegfs-node.sh, from the deployment info): every daemon's
# sysMgmtdHost is the first `mgmt` node's address; meta and storage numeric ids are the node's
# rank in its role; stores go on the node's disk (KDPL_TMP_disk0 on Grid'5000, the vm's
# --disk-size disk, else disk-backed storage, never RAM); clients mount once every meta and
# storage node of the info has registered. sshd waits for that, so `nxc start` returns with the
# file system mounted. Counts at start: `-r meta=2 -r storage=4 -r client=4`.
# Memory: 1 GiB per node (the vm default; NixOS needs it, the daemons are small).
#
#   nxc build -f vm && nxc start --disk-size 4G -t      # formed, mounted, checked
#   nxc bench fio --role client --dir '/mnt/fs/{host}' --sizes 4k,1M --jobs 1,4
#
# Not built on the machine this was written on (no nixpkgs there): the package, module and
# composition are checked by evaluation with stand-ins (tests/bench/test_compositions.py) and
# by `nixos`-marked tests that build them and boot a vm deployment.
{ ... }:
let
  role = name: import ./module.nix { role = name; };
in
{
  roles = {
    mgmt = role "mgmt";
    meta = role "meta";
    storage = role "storage";
    client =
      { pkgs, ... }:
      {
        imports = [ (role "client") ];
        environment.systemPackages = [ pkgs.fio ];
      };
  };

  rolesDistribution = {
    mgmt = 1;
    meta = 1;
    storage = 2;
    client = 2;
  };

  # Only checks: the nodes formed and mounted the file system before they became ready.
  testScript = ''
    start_all()
    clients = [m for m in machines if m.name.startswith("client")]
    storage = [m for m in machines if m.name.startswith("storage")]
    for client in clients:
        client.wait_for_unit("nxc-beegfs-mount.service")
        client.succeed("findmnt -n -o FSTYPE /mnt/fs | grep -x beegfs")
    targets = clients[0].succeed("beegfs-ctl --cfgFile=/run/beegfs/beegfs-client.conf --listtargets")
    assert targets.count("\n") >= len(storage), targets
    clients[0].succeed("echo nxc-shared-check > /mnt/fs/hello")
    for client in clients[1:]:
        client.succeed("grep -x nxc-shared-check /mnt/fs/hello")
  '';
}
