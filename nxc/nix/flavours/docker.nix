# docker flavour: each role's system runs as a container (`<system>/init` as PID 1); the
# deployment info and host key are bind-mounted at /etc/nxc/info.json and /etc/nxc/host_key.
# The host's /nix/store is bound read-only; the role system's closure registration (built beside
# it: a system cannot hold its own registration) at /etc/nxc/registration. Stage 2 puts a
# writable overlay over the store and loads the registration, so `nix` works in the node, as
# nixpkgs' own VMs do (virtualisation/qemu-vm.nix: writableStore, regInfo).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  lowerStore = "/nix/.ro-store";
  writableLayer = "/nix/.rw-store";
  registration = "/etc/nxc/registration";
  # nxc_error's way (modules/node-info.sh): the container's console is its log
  say = ''nxc_say() { echo "$*"; [ -w /dev/console ] && echo "$*" > /dev/console || true; }'';
in
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

  # system/boot/stage-2-init.sh runs postBootCommands after activation, before systemd; its
  # readOnlyStore step left the bound store as it is (already a read-only mount point). A
  # container without CAP_SYS_ADMIN (not privileged) cannot mount: it keeps the read-only
  # store and says so on its console. Once mounted and loaded, the overlay is made read-only
  # again as stage 2 does (Nix remounts it writable in its own mount namespace).
  boot.postBootCommands = lib.mkIf config.nix.enable ''
    ${say}
    PATH=${lib.makeBinPath [ pkgs.util-linux pkgs.coreutils ]}:$PATH
    mkdir -p ${lowerStore} ${writableLayer}
    if mount --bind /nix/store ${lowerStore} \
      && mount -t tmpfs -o mode=0755 tmpfs ${writableLayer} \
      && mkdir -p ${writableLayer}/upper ${writableLayer}/work \
      && mount -t overlay -o lowerdir=${lowerStore},upperdir=${writableLayer}/upper,workdir=${writableLayer}/work \
        overlay /nix/store; then
      if [ -r ${registration} ]; then
        ${config.nix.package.out}/bin/nix-store --load-db < ${registration} \
          || nxc_say "nxc-error: cannot load ${registration} into the Nix database"
      else
        nxc_say "nxc: no ${registration} (built by an older nxc?): the store is writable, its paths unregistered"
      fi
      mount --bind /nix/store /nix/store && mount -o remount,ro,bind /nix/store || true
    else
      umount ${writableLayer} ${lowerStore} 2>/dev/null || true
      nxc_say "nxc: the store stays read-only in this container (mounting needs a privileged container): nix cannot add paths"
    fi
  '';
}
