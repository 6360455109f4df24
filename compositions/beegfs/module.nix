# The NixOS module of one BeeGFS role: `import ./module.nix { role = "meta"; }` is a module.
# nixpkgs has no BeeGFS module (removed in 2019: nixos/modules/rename.nix,
# mkRemovedOptionModule [ "services" "beegfs" ]), so the units are written here:
#   nxc-beegfs          oneshot, beegfs-node.sh prepare <role>: configuration in /run/beegfs,
#                       store and numeric ids from the deployment info
#   beegfs-<daemon>     the daemon (mgmtd | meta | storage | helperd), in the foreground
#                       (runDaemonized=false), its configuration from /run/beegfs
#   nxc-beegfs-mount    clients: beegfs-node.sh mount, once every server has registered
# sshd (the node's readiness, base.nix) starts after them. Packages from overlay.nix.
{
  role,
  mountPoint ? "/mnt/fs",
}:
{ config, pkgs, ... }:
let
  daemonOf = {
    mgmt = "mgmtd";
    meta = "meta";
    storage = "storage";
    client = "helperd";
  };
  daemon = daemonOf.${role};
  tools = [
    pkgs.beegfs
    pkgs.jq
    pkgs.util-linux
    pkgs.xfsprogs
  ];
  script = "${pkgs.bash}/bin/sh ${./beegfs-node.sh}";
  environment.BEEGFS_MOUNT = mountPoint;
  oneshot = command: {
    Type = "oneshot";
    RemainAfterExit = true;
    # the script gives up after 540 s; sshd then starts anyway, so the node can be inspected
    TimeoutStartSec = "600";
    ExecStart = command;
  };
in
{
  environment.systemPackages = [ pkgs.beegfs ];
  networking.firewall.enable = false;

  systemd.services = {
    nxc-beegfs = {
      description = "nxc: BeeGFS ${role} configuration from the deployment info";
      wantedBy = [ "multi-user.target" ];
      after = [
        "nxc-node.service"
        "network.target"
      ];
      before = [ "sshd.service" ];
      path = tools;
      inherit environment;
      serviceConfig = oneshot "${script} prepare ${role}";
    };
    "beegfs-${daemon}" = {
      description = "BeeGFS ${daemon} daemon";
      wantedBy = [ "multi-user.target" ];
      requires = [ "nxc-beegfs.service" ];
      after = [ "nxc-beegfs.service" ];
      before = [ "sshd.service" ];
      serviceConfig = {
        ExecStart = "${pkgs.beegfs}/bin/beegfs-${daemon} cfgFile=/run/beegfs/beegfs-${daemon}.conf runDaemonized=false";
        Restart = "on-failure";
        RestartSec = "2s";
      };
    };
  }
  // (
    if role == "client" then
      {
        nxc-beegfs-mount = {
          description = "nxc: mount BeeGFS on ${mountPoint} once every server registered";
          wantedBy = [ "multi-user.target" ];
          requires = [ "beegfs-helperd.service" ];
          after = [ "beegfs-helperd.service" ];
          before = [ "sshd.service" ];
          path = tools;
          inherit environment;
          serviceConfig = oneshot "${script} mount";
        };
      }
    else
      { }
  );

  # the client module, built for the kernel every node boots (common.nix: Linux 6.6)
  boot.extraModulePackages =
    if role == "client" then [ (pkgs.beegfsClientModule config.boot.kernelPackages.kernel) ] else [ ];
  boot.kernelModules = if role == "client" then [ "beegfs" ] else [ ];
}
