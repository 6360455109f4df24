# CephFS: roles `mon` (1 or 3 monitors, each with a manager), `osd` (N, one BlueStore OSD
# each), `mds` (metadata servers) and `client` (mount the file system at /mnt/fs, carry fio for
# `nxc bench`). The nodes form it themselves: ceph-node.py (next to this file, also run by
# tests/storage on real daemons) reads the deployment info at boot. Monitor, manager and MDS
# ids are the hostnames, mon_host is the `mon` nodes' addresses, the fsid is derived from the
# node list; the first monitor generates the keyrings (none is in the store) and serves them
# over HTTP to the deployment's addresses only; each OSD is made with `ceph osd new`; pools
# keep min(3, OSDs) copies; the first monitor creates the file system `cephfs`. sshd waits
# for each node's part, so `nxc start` returns with the file system mounted on the clients (or
# with the unit failed: `systemctl status nxc-ceph`). Counts at start: `-r osd=8 -r client=4`.
#
# OSD disk: the partition labelled KDPL_TMP_disk0 (Grid'5000), else the vm's --disk-size disk
# (/dev/vda, when blank and unused), else a 10 GiB sparse file in /var/lib/ceph/osd when that
# is disk-backed; never RAM (the vm flavour's root is tmpfs: give vm nodes a disk).
# Memory: 2 GiB per node (`nxc start --memory 2G`): an OSD's memory target is 1 GiB (Ceph's
# minimum is 896 MiB; measured on the test bed: 190 MiB after 512 MiB written), monitor +
# manager took 340 MiB, an MDS 25 MiB, ceph-fuse up to 370 MiB of cache; NixOS wants 1 GiB.
#
#   nxc build -f vm && nxc start --memory 2G --disk-size 12G -t   # formed, mounted, checked
#   nxc bench fio --role client --dir '/mnt/fs/{host}' --sizes 4k,1M --jobs 1,4
#
# nixpkgs' services.ceph (nixos/modules/services/network-filesystems/ceph.nix, nixos-25.05) is
# not used: it writes /etc/ceph/ceph.conf into the store and one unit per daemon id fixed at
# build time (ceph-<type>-<id>), while fsid, mon_host and ids here are known only at boot. From
# it: the manager's modules are in `${pkgs.ceph.lib}/lib/ceph/mgr` (its mgrModulePath default).
# A unit's `path` puts each package's bin and sbin on PATH (nixos/lib/systemd-lib.nix).
{ pkgs, ... }:
let
  node = role: {
    description = "nxc: Ceph ${role} from the deployment info (ceph-node.py ${role})";
    wantedBy = [ "multi-user.target" ];
    after = [
      "nxc-node.service"
      "network.target"
    ];
    # the node is ready (base.nix: sshd answers) once its part of the cluster is up
    before = [ "sshd.service" ];
    path = [
      pkgs.ceph
      pkgs.util-linux
      pkgs.kmod
    ];
    environment.CEPH_MGR_MODULE_PATH = "${pkgs.ceph.lib}/lib/ceph/mgr";
    serviceConfig = {
      Type = "oneshot";
      # the daemons ceph-node.py starts stay in this unit
      RemainAfterExit = true;
      # the script gives up after 540 s; sshd then starts anyway, so the node can be inspected
      TimeoutStartSec = "600";
      ExecStart = "${pkgs.python3}/bin/python3 ${./ceph-node.py} ${role}";
    };
  };
  daemon =
    role:
    { pkgs, ... }:
    {
      environment.systemPackages = [ pkgs.ceph ];
      networking.firewall.enable = false;
      systemd.services.nxc-ceph = node role;
    };
in
{
  roles = {
    mon = daemon "mon";
    osd = daemon "osd";
    mds = daemon "mds";
    client =
      { pkgs, ... }:
      {
        environment.systemPackages = [
          pkgs.ceph
          pkgs.fio
        ];
        boot.kernelModules = [ "ceph" ];
        networking.firewall.enable = false;
        systemd.services.nxc-ceph = node "client";
      };
  };

  rolesDistribution = {
    mon = 1;
    osd = 3;
    mds = 1;
    client = 2;
  };

  # Only checks: the nodes formed the cluster and mounted it before they became ready.
  testScript = ''
    start_all()
    for machine in machines:
        machine.wait_for_unit("nxc-ceph.service")
    monitor = next(m for m in machines if m.name.startswith("mon"))
    osds = [m for m in machines if m.name.startswith("osd")]
    clients = [m for m in machines if m.name.startswith("client")]
    monitor.succeed(f"ceph osd stat | grep -q '{len(osds)} up'")
    monitor.succeed("ceph mds stat | grep -q up:active")
    monitor.succeed(f"ceph osd pool get cephfs_data size | grep -x 'size: {min(3, len(osds))}'")
    for client in clients:
        client.succeed("findmnt -n -o FSTYPE /mnt/fs | grep -x ceph")
    clients[0].succeed("echo nxc-shared-check > /mnt/fs/hello")
    for client in clients[1:]:
        client.succeed("grep -x nxc-shared-check /mnt/fs/hello")
  '';
}
