# GlusterFS: `server` nodes each hold one brick of a distributed volume `gv0`; `client` nodes
# mount it with the FUSE client at /mnt/fs and carry fio for `nxc bench`.
#
#   nxc build -f vm && nxc start --memory 1G && nxc driver -t   # volume made, mounted, checked
#   nxc bench fio --role client --dir '/mnt/fs/{host}' --sizes 4k,1M --jobs 1,4
#
# Options checked against nixpkgs (nixos-25.05): services.glusterfs.{enable,useRpcbind,
# enableGlustereventsd} (nixos/modules/services/network-filesystems/glusterfs.nix);
# the client helper is `${pkgs.glusterfs}/sbin/mount.glusterfs` (pkgs/by-name/gl/glusterfs).
{ pkgs, ... }:
let
  brick = "/srv/gluster/brick";
  mountPoint = "/mnt/fs";
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
        systemd.tmpfiles.rules = [ "d ${brick} 0755 root root -" ];
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
        systemd.tmpfiles.rules = [ "d ${mountPoint} 0755 root root -" ];
      };
  };

  rolesDistribution = {
    server = 2;
    client = 2;
  };

  # Works with any number of servers and clients (`nxc start -r server=3 -r client=4`).
  testScript = ''
    servers = [m for m in machines if m.name.startswith("server")]
    clients = [m for m in machines if m.name.startswith("client")]
    start_all()
    for server in servers:
        server.wait_for_unit("glusterd.service")
        server.wait_until_succeeds("gluster peer status")
    first = servers[0]
    for server in servers[1:]:
        first.succeed(f"gluster peer probe {server.name}")
    for server in servers[1:]:
        first.wait_until_succeeds(f"gluster peer status | grep -A2 'Hostname: {server.name}' | grep -q 'Connected'")
    bricks = " ".join(f"{server.name}:${brick}" for server in servers)
    # bricks live on the root file system here (tmpfs on vm): gluster wants `force` for that
    first.succeed(f"gluster volume create gv0 {bricks} force")
    first.succeed("gluster volume start gv0")
    for client in clients:
        client.wait_until_succeeds(
            f"${pkgs.glusterfs}/sbin/mount.glusterfs {first.name}:/gv0 ${mountPoint}"
            " && mountpoint -q ${mountPoint}",
            timeout=120,
        )
    clients[0].succeed("echo nxc-shared-check > ${mountPoint}/hello")
    for client in clients[1:]:
        client.succeed("grep -x nxc-shared-check ${mountPoint}/hello")
  '';
}
