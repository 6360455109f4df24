# docker flavour: each role's system runs as a container (`<system>/init` as PID 1); the
# deployment info and host key are bind-mounted at /etc/nxc/info.json and /etc/nxc/host_key.
{ lib, ... }:
{
  boot.isContainer = true;
  nxc.stage1Selection = false;
  networking.useDHCP = false;
  documentation.enable = lib.mkDefault false;
}
