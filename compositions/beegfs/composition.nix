# BeeGFS 7.4: one `server` runs the management, metadata and storage daemons; `client` nodes
# load the BeeGFS kernel module, run beegfs-helperd and mount the file system at /mnt/fs, with
# fio for `nxc bench`.
#
# BeeGFS is not in nixpkgs: its package and NixOS module were removed in 2019 (nixos-25.05
# still has `beegfs = throw "beegfs has been removed."` in pkgs/top-level/aliases.nix and
# `mkRemovedOptionModule [ "services" "beegfs" ]` in nixos/modules/rename.nix). So this
# composition writes the daemons' configuration files and systemd units itself, and takes
# BeeGFS from an overlay given to lib.compose (`overlays = [ ./beegfs-overlay.nix ];`) that
# provides:
#   beegfs                   bin/beegfs-{mgmtd,meta,storage,helperd,ctl} of BeeGFS 7.4
#   beegfsClientModule       kernel: the client module built for that kernel
#                            (lib/modules/<version>/extra/beegfs.ko)
# Without them, evaluation stops with an assertion saying so (see docs/benchmarks.md).
#
#   nxc build -f vm && nxc start --memory 1G && nxc driver -t   # servers up, mounted, checked
#   nxc bench fio --role client --dir '/mnt/fs/{host}' --sizes 4k,1M --jobs 1,4
{ pkgs, ... }:
let
  mountPoint = "/mnt/fs";
  # the server's hostname: a role with one node is named after the role
  management = "server";
  clientConfigFile = "/etc/beegfs/beegfs-client.conf";

  hasBeegfs =
    pkgs:
    let
      probe = builtins.tryEval (
        pkgs ? beegfs && pkgs.beegfs ? outPath && builtins.isFunction (pkgs.beegfsClientModule or null)
      );
    in
    probe.success && probe.value;

  missingMessage =
    "BeeGFS is not in nixpkgs (removed in 2019): give lib.compose an overlay providing "
    + "`beegfs` (BeeGFS 7.4 daemons and tools) and `beegfsClientModule` (kernel -> client "
    + "module); see docs/benchmarks.md of nxc";

  # key = value lines; every daemon talks to the management host without a shared secret
  configFile =
    name: settings:
    pkgs.writeText "beegfs-${name}.conf" (
      builtins.concatStringsSep "\n" (
        builtins.attrValues (builtins.mapAttrs (key: value: "${key} = ${value}") settings)
      )
      + "\n"
    );
  common = {
    connDisableAuthentication = "true";
    logType = "syslog";
  };
  serverCommon = common // {
    sysMgmtdHost = management;
    storeAllowFirstRunInit = "true";
  };

  daemon = beegfs: name: config: {
    description = "BeeGFS ${name} daemon";
    wantedBy = [ "multi-user.target" ];
    wants = [ "network-online.target" ];
    after = [ "network-online.target" ];
    serviceConfig = {
      ExecStart = "${beegfs}/bin/beegfs-${name} cfgFile=${config} runDaemonized=false";
      StateDirectory = "beegfs/${name}";
      Restart = "on-failure";
      RestartSec = "2s";
    };
  };
in
{
  roles = {
    server =
      { pkgs, ... }:
      {
        assertions = [
          {
            assertion = hasBeegfs pkgs;
            message = missingMessage;
          }
        ];
        systemd.services = {
          beegfs-mgmtd = daemon pkgs.beegfs "mgmtd" (
            configFile "mgmtd" (common // {
              storeMgmtdDirectory = "/var/lib/beegfs/mgmtd";
              storeAllowFirstRunInit = "true";
            })
          );
          beegfs-meta = daemon pkgs.beegfs "meta" (
            configFile "meta" (serverCommon // { storeMetaDirectory = "/var/lib/beegfs/meta"; })
          );
          beegfs-storage = daemon pkgs.beegfs "storage" (
            configFile "storage" (serverCommon // { storeStorageDirectory = "/var/lib/beegfs/storage"; })
          );
        };
        # beegfs-ctl reads the client configuration for the management host
        environment.etc."beegfs/beegfs-client.conf".source = configFile "client" (
          common // { sysMgmtdHost = management; }
        );
        environment.systemPackages = [ pkgs.beegfs ];
        networking.firewall.enable = false;
      };

    client =
      { pkgs, config, ... }:
      {
        assertions = [
          {
            assertion = hasBeegfs pkgs;
            message = missingMessage;
          }
        ];
        boot.extraModulePackages = [ (pkgs.beegfsClientModule config.boot.kernelPackages.kernel) ];
        boot.kernelModules = [ "beegfs" ];
        environment.etc."beegfs/beegfs-client.conf".source = configFile "client" (
          common // { sysMgmtdHost = management; }
        );
        systemd.services.beegfs-helperd = daemon pkgs.beegfs "helperd" (configFile "helperd" common);
        fileSystems.${mountPoint} = {
          device = "beegfs_nodev";
          fsType = "beegfs";
          # mounted by the test script once the servers are up
          options = [
            "cfgFile=${clientConfigFile}"
            "_netdev"
            "noauto"
          ];
        };
        environment.systemPackages = [
          pkgs.beegfs
          pkgs.fio
        ];
        networking.firewall.enable = false;
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
    for unit in ["beegfs-mgmtd", "beegfs-meta", "beegfs-storage"]:
        server.wait_for_unit(unit)
    for node_type in ["meta", "storage"]:
        server.wait_until_succeeds(
            f"beegfs-ctl --cfgFile=${clientConfigFile} --listnodes --nodetype={node_type} | grep -q ${management}",
            timeout=120,
        )
    for client in clients:
        client.wait_for_unit("beegfs-helperd")
        client.succeed("systemctl start mnt-fs.mount")
        client.succeed("mountpoint -q ${mountPoint}")
    clients[0].succeed("echo nxc-shared-check > ${mountPoint}/hello")
    for client in clients[1:]:
        client.succeed("grep -x nxc-shared-check ${mountPoint}/hello")
  '';
}
