# docker flavour: each role's system runs as a container (`<system>/init` as PID 1); the
# deployment info and host key are bind-mounted at /etc/nxc/info.json and /etc/nxc/host_key.
{ lib, ... }:
{
  boot.isContainer = true;
  nxc.stage1Selection = false;
  # the engine configures eth0 itself: dhcpcd (services/networking/dhcpcd.nix) would not find
  # a DHCP server on the deployment's network and could drop the address
  networking.useDHCP = false;
  # virtualisation/container-config.nix makes sshd socket-activated in containers (mkDefault):
  # there would be no sshd.service for nxc-ready to require, and the first connection's sshd@
  # preStart would generate a host key nxc did not pin; virtualisation/docker-image.nix also
  # turns it off. A plain value: a role asking for socket activation gets a conflict, not a hang.
  services.openssh.startWhenNeeded = false;
  documentation.enable = lib.mkDefault false;
}
