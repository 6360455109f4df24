# CephFS: one `server` runs a monitor, a manager, a metadata server and one BlueStore OSD (on a
# loop device over a sparse file, so no extra disk is needed); `client` nodes mount the file
# system with the kernel client at /mnt/fs and carry fio for `nxc bench`.
#
#   nxc build -f vm && nxc start --memory 3G && nxc driver -t   # cluster made, mounted, checked
#   nxc bench fio --role client --dir '/mnt/fs/{host}' --sizes 4k,1M --jobs 1,4
#
# The cluster is bootstrapped by the test script, as Ceph's manual deployment describes
# (NixOS's module writes ceph.conf and the daemons' units; it does not create keys or maps).
# Options checked against nixpkgs (nixos-25.05) nixos/modules/services/network-filesystems/
# ceph.nix: services.ceph.{enable, global.{fsid,monInitialMembers,monHost}, extraConfig,
# mon/mgr/mds/osd.{enable,daemons}, osd.extraConfig, client.enable}; daemon units are
# ceph-<type>-<id>, started only once /var/lib/ceph/<type>/ceph-<id>/keyring exists.
{ pkgs, ... }:
let
  fsid = "48ea75df-5975-4c13-bb69-e902ff3c6eda";
  mountPoint = "/mnt/fs";
  # the server's hostname: a role with one node is named after the role
  monitor = "server";
  osdImageSize = "8G";
in
{
  roles = {
    server =
      { pkgs, ... }:
      {
        services.ceph = {
          enable = true;
          global = {
            inherit fsid;
            monInitialMembers = "a";
            monHost = monitor;
          };
          # one OSD: pools keep a single copy
          extraConfig = {
            "osd pool default size" = "1";
            "osd pool default min size" = "1";
            "mon allow pool size one" = "true";
            "osd crush chooseleaf type" = "0";
            "auth allow insecure global id reclaim" = "false";
          };
          mon = {
            enable = true;
            daemons = [ "a" ];
          };
          mgr = {
            enable = true;
            daemons = [ "a" ];
          };
          mds = {
            enable = true;
            daemons = [ "a" ];
          };
          osd = {
            enable = true;
            daemons = [ "0" ];
            extraConfig = {
              "osd objectstore" = "bluestore";
              # the default (4 GiB) does not fit small nodes; Ceph refuses less than 896 MiB
              "osd memory target" = "1073741824";
            };
          };
        };
        environment.systemPackages = [ pkgs.ceph ];
        networking.firewall.enable = false;
      };

    client =
      { pkgs, ... }:
      {
        environment.systemPackages = [
          pkgs.ceph-client
          pkgs.fio
        ];
        boot.kernelModules = [ "ceph" ];
        networking.firewall.enable = false;
        systemd.tmpfiles.rules = [ "d ${mountPoint} 0755 root root -" ];
      };
  };

  rolesDistribution = {
    server = 1;
    client = 2;
  };

  testScript = ''
    server = next(m for m in machines if m.name.startswith("server"))
    clients = [m for m in machines if m.name.startswith("client")]
    start_all()
    server.wait_for_unit("multi-user.target")
    address = server.succeed("getent hosts $(hostname) | awk 'NR == 1 { print $1 }'").strip()

    with subtest("monitor and manager"):
        server.succeed(
            "mkdir -p /etc/ceph && chown ceph:ceph /etc/ceph",
            "ceph-authtool --create-keyring /tmp/mon.keyring --gen-key -n mon. --cap mon 'allow *'",
            "ceph-authtool --create-keyring /etc/ceph/ceph.client.admin.keyring --gen-key -n client.admin"
            " --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'",
            "ceph-authtool /tmp/mon.keyring --import-keyring /etc/ceph/ceph.client.admin.keyring",
            "chown ceph:ceph /tmp/mon.keyring",
            f"monmaptool --create --add a {address} --fsid ${fsid} /tmp/monmap",
            "runuser -u ceph -- ceph-mon --mkfs -i a --monmap /tmp/monmap --keyring /tmp/mon.keyring",
            "runuser -u ceph -- touch /var/lib/ceph/mon/ceph-a/done",
            "systemctl start ceph-mon-a",
        )
        server.wait_for_unit("ceph-mon-a")
        server.wait_until_succeeds("ceph mon enable-msgr2", timeout=120)
        server.succeed(
            "mkdir -p /var/lib/ceph/mgr/ceph-a",
            "ceph auth get-or-create mgr.a mon 'allow profile mgr' osd 'allow *' mds 'allow *'"
            " > /var/lib/ceph/mgr/ceph-a/keyring",
            "chown -R ceph:ceph /var/lib/ceph/mgr",
            "systemctl start ceph-mgr-a",
        )
        server.wait_until_succeeds("ceph -s | grep -q 'mgr: a(active'", timeout=300)

    with subtest("one BlueStore OSD on a loop device"):
        osd_uuid = server.succeed("cat /proc/sys/kernel/random/uuid").strip()
        osd_key = server.succeed("ceph-authtool --gen-print-key").strip()
        server.succeed(
            "truncate -s ${osdImageSize} /var/lib/ceph-osd-0.img",
            "mkdir -p /var/lib/ceph/osd/ceph-0",
            "ln -sf $(losetup --find --show /var/lib/ceph-osd-0.img) /var/lib/ceph/osd/ceph-0/block",
            "echo bluestore > /var/lib/ceph/osd/ceph-0/type",
            f"ceph-authtool --create-keyring /var/lib/ceph/osd/ceph-0/keyring --name osd.0 --add-key {osd_key}",
            f"""echo '{{"cephx_secret": "{osd_key}"}}' | ceph osd new {osd_uuid} -i -""",
            f"ceph-osd -i 0 --mkfs --osd-uuid {osd_uuid}",
            "chown -R ceph:ceph /var/lib/ceph/osd",
            "systemctl start ceph-osd-0",
        )
        server.wait_until_succeeds("ceph osd stat | grep -q '1 up'", timeout=300)

    with subtest("file system and its metadata server"):
        server.succeed(
            "ceph osd pool create cephfs_data 16",
            "ceph osd pool create cephfs_metadata 16",
            "ceph fs new cephfs cephfs_metadata cephfs_data",
            "mkdir -p /var/lib/ceph/mds/ceph-a",
            "ceph auth get-or-create mds.a mon 'allow profile mds' mgr 'allow profile mds'"
            " mds 'allow *' osd 'allow *' > /var/lib/ceph/mds/ceph-a/keyring",
            "chown -R ceph:ceph /var/lib/ceph/mds",
            "systemctl start ceph-mds-a",
        )
        server.wait_until_succeeds("ceph mds stat | grep -q 'up:active'", timeout=300)
        server.succeed("ceph fs authorize cephfs client.bench / rw > /etc/ceph/ceph.client.bench.keyring")
        secret = server.succeed("ceph auth get-key client.bench").strip()

    with subtest("clients mount it and share files"):
        for client in clients:
            client.succeed(
                f"mount -t ceph {address}:6789:/ ${mountPoint} -o name=bench,secret={secret}"
            )
        clients[0].succeed("echo nxc-shared-check > ${mountPoint}/hello")
        for client in clients[1:]:
            client.succeed("grep -x nxc-shared-check ${mountPoint}/hello")
  '';
}
