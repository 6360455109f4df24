{ pkgs, ... }:
{
  roles = {
    server =
      { pkgs, ... }:
      {
        services.nfs.server.enable = true;
        services.nfs.server.exports = ''
          /srv/shared *(rw,no_subtree_check,fsid=0,no_root_squash)
        '';
        systemd.tmpfiles.rules = [ "d /srv/shared 0777 root root -" ];
      };

    client =
      { pkgs, ... }:
      {
        # fio for `nxc bench fio --dir '/data/{host}'` (pkgs/by-name/fi/fio in nixpkgs)
        environment.systemPackages = [ pkgs.fio ];
        fileSystems."/data" = {
          device = "server:/";
          fsType = "nfs";
          options = [
            "vers=4"
            "noauto"
            "x-systemd.automount"
          ];
        };
      };
  };

  # two clients unless `nxc start -r client=N` says otherwise
  rolesDistribution.client = 2;

  testScript = ''
    start_all()
    server.wait_for_unit("nfs-server.service")
    server.succeed("echo hello > /srv/shared/hello")
    for client in [client1, client2]:
        client.succeed("grep hello /data/hello")
  '';
}
