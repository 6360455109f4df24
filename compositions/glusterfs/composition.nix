# GlusterFS: `server` nodes each hold one brick of the volume `gv0`; `client` nodes mount it
# with the FUSE client at /mnt/fs and carry fio for `nxc bench`. The nodes form it themselves:
# gluster-node.sh (next to this file, also run by tests/storage on real daemons) prepares the
# brick, and the first `server` of the deployment info probes the others and creates and starts
# the volume once every glusterd answers; clients mount once it is started. sshd waits for
# that, so `nxc start` returns when the file system is mounted (or its unit failed: see
# `systemctl status nxc-glusterfs`). Node counts are chosen at start: `-r server=6 -r client=4`.
#
# Volume type: `nxc build -p gluster_volume=replica:3` (distribute | replica:K | disperse:K+M;
# default distribute); the server count must be a multiple of K (K+M), checked at boot.
# Bricks: the partition labelled KDPL_TMP_disk0 (Grid'5000), else the vm's --disk-size disk
# (/dev/vda, formatted XFS when blank), else /srv/gluster when it is disk-backed; never RAM
# (the vm flavour's root is tmpfs, so give vm nodes a disk).
# Memory: 1 GiB per node (nxc's vm default, what NixOS needs); glusterd, one brick daemon and
# the FUSE client add less than 100 MiB (measured on the test bed: 21 + 19 + 15 MiB).
#
#   nxc build -f vm && nxc start --disk-size 4G -t      # formed, mounted, checked
#   nxc bench fio --role client --dir '/mnt/fs/{host}' --sizes 4k,1M --jobs 1,4
#
# Options checked against nixpkgs (nixos-25.05): services.glusterfs.{enable,useRpcbind,
# enableGlustereventsd} and the `glusterd` unit it defines (Type simple, `glusterd --no-daemon`:
# the script waits for it to answer) in nixos/modules/services/network-filesystems/glusterfs.nix;
# a unit's `path` puts each package's bin and sbin on PATH (nixos/lib/systemd-lib.nix), so
# mount.glusterfs (pkgs.glusterfs' sbin) is found.
{ pkgs, setup, ... }:
let
  volume = (setup.params or { }).gluster_volume or "distribute";
  # sshd (base.nix: the node is ready when it answers) starts after the file system is formed
  bootstrap = role: extra: {
    description = "nxc: GlusterFS ${role} from the deployment info (gluster-node.sh ${role})";
    wantedBy = [ "multi-user.target" ];
    after = [
      "nxc-node.service"
      "network.target"
    ] ++ extra;
    wants = extra;
    before = [ "sshd.service" ];
    path = [
      pkgs.glusterfs
      pkgs.jq
      pkgs.util-linux
      pkgs.xfsprogs
      pkgs.gawk
    ];
    environment.GLUSTER_VOLUME = volume;
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      # the script gives up after 540 s; sshd then starts anyway, so the node can be inspected
      TimeoutStartSec = "600";
      ExecStart = "${pkgs.bash}/bin/sh ${./gluster-node.sh} ${role}";
    };
  };
in
{
  roles = {
    server =
      { pkgs, ... }:
      {
        services.glusterfs.enable = true;
        # no NFS export of the volume: no rpcbind; no events daemon either
        services.glusterfs.useRpcbind = false;
        services.glusterfs.enableGlustereventsd = false;
        networking.firewall.enable = false;
        environment.systemPackages = [ pkgs.fio ];
        systemd.services.nxc-glusterfs = bootstrap "server" [ "glusterd.service" ];
      };

    client =
      { pkgs, ... }:
      {
        environment.systemPackages = [
          pkgs.glusterfs
          pkgs.fio
        ];
        boot.kernelModules = [ "fuse" ];
        networking.firewall.enable = false;
        systemd.services.nxc-glusterfs = bootstrap "client" [ ];
      };
  };

  rolesDistribution = {
    server = 3;
    client = 2;
  };

  # Only checks: the nodes formed and mounted the volume before they became ready.
  testScript = ''
    servers = [m for m in machines if m.name.startswith("server")]
    clients = [m for m in machines if m.name.startswith("client")]
    start_all()
    for machine in servers + clients:
        machine.wait_for_unit("nxc-glusterfs.service")
    servers[-1].succeed("gluster volume info gv0 | grep -x 'Status: Started'")
    for client in clients:
        client.succeed("findmnt -n -o FSTYPE /mnt/fs | grep -x fuse.glusterfs")
    clients[0].succeed("echo nxc-shared-check > /mnt/fs/hello")
    for client in clients[1:]:
        client.succeed("grep -x nxc-shared-check /mnt/fs/hello")
  '';
}
