# The nixpkgs side of the seam (see ../compose.nix): role evaluation with the NixOS module
# system, boot artefacts and images from nixpkgs' own builders, and the manifest package.
{
  nixpkgs,
  system,
  extraConfigurations ? [ ],
  overlays ? [ ],
  nur ? null,
  NUR ? null,
  repoOverrides ? { },
  pkgs ? null,
  setup,
}:
let
  nixpkgsInput =
    if nixpkgs == null then
      throw "nxc: lib.compose needs `nixpkgs` (e.g. `inherit nixpkgs system;` in flake.nix)"
    else
      nixpkgs;
  # NixOS-Compose's `NUR` + `repoOverrides`: `nur.repos` for compositions, `pkgs.nur` by overlay
  nurValue =
    if NUR == null then
      nur
    else
      import ../nur.nix {
        inherit NUR repoOverrides system;
        nixpkgs = nixpkgsInput;
      };
  nurOverlays = if NUR == null then [ ] else [ nurValue.overlay ];
  setupOverlays = nurOverlays ++ (setup.overlays or [ ]);
  thePkgs =
    if pkgs != null then
      pkgs
    else
      import nixpkgsInput {
        inherit system;
        overlays = overlays ++ setupOverlays;
      };
  lib = nixpkgsInput.lib;
  modulesPath = "${nixpkgsInput}/nixos/modules";
  helpers = import ../helpers.nix;

  flavourModule = flavour: ../flavours + "/${flavour.name}.nix";

  # What every node's system has besides its role: nxc's modules, the flavour's, the caller's.
  nxcModules =
    flavour:
    [
      ../modules/base.nix
      # NixOS-Compose's nxc.users, nxc.sharedDirs and nxc.root-sshKeys
      ../modules/users.nix
      ../modules/shared-dirs.nix
      ../modules/root-ssh-key.nix
      ../modules/activation.nix
      (flavourModule flavour)
      { nixpkgs.overlays = overlays ++ setupOverlays; }
    ]
    ++ extraConfigurations;

  nodeArgs = flavour: {
    inherit setup helpers flavour;
    nur = nurValue;
  };

  evalSystem =
    {
      flavour,
      modules,
      roleName,
    }:
    lib.nixosSystem {
      inherit system;
      specialArgs = nodeArgs flavour // {
        nxcRole = roleName;
      };
      modules = nxcModules flavour ++ [ { nxc.role = roleName; } ] ++ modules;
    };

  # The system booted first by all-in-one flavours: base + flavour, no role. Its stage 1
  # reads the deployment info and hands over to the node's role system.
  bootSystem =
    flavour: roles:
    evalSystem {
      inherit flavour;
      roleName = "";
      modules = [ { nxc.roleSystems = map (r: r.system) (builtins.attrValues roles); } ];
    };

  optionalAttrs = condition: attrs: if condition then attrs else { };

  # A system's closure registration, outside the system (a system cannot hold its own): the
  # file `nix-store --load-db` reads (pkgs.closureInfo, as virtualisation/qemu-vm.nix's regInfo).
  registrationOf = system: "${thePkgs.closureInfo { rootPaths = [ system ]; }}/registration";

  bootFiles =
    config: initrd:
    {
      kernel = "${config.system.build.kernel}/${config.system.boot.loader.kernelFile}";
      initrd = "${initrd}/${config.system.boot.loader.initrdFile}";
      cmdline = toString (
        [ "init=${config.system.build.toplevel}/init" ] ++ config.boot.kernelParams
      );
    };

  # The flavours whose initrd carries the whole store (nixpkgs' netboot module).
  ramdiskFlavour = flavour: flavour.name == "g5k-ramdisk" || flavour.name == "vm-ramdisk";

  # The boot files of the roles whose kernel is not the boot system's (a role setting
  # boot.kernelPackages), as `role_boot`; absent when every role boots the boot system's.
  # A role system is built with the flavour module too, so its stage 1 boots it directly,
  # and on the ramdisk flavours its own netbootRamdisk holds its closure
  # (installer/netboot/netboot.nix: netboot.storeContents includes the system's toplevel).
  roleBoot =
    flavour: roles: boot:
    let
      ownKernel = role: "${role.config.system.build.kernel}" != "${boot.system.build.kernel}";
      initrdOf =
        config:
        if ramdiskFlavour flavour then
          config.system.build.netbootRamdisk
        else
          config.system.build.initialRamdisk;
      # vm and g5k-nfs-store register the store's closure at boot from nxc.reg_info=, which
      # only the boot system's command line has (flavours/store-registration.nix): give the
      # role's own closure's
      registration =
        role:
        if ramdiskFlavour flavour then "" else " nxc.reg_info=${registrationOf role.system}";
      files =
        role:
        let
          own = bootFiles role.config (initrdOf role.config);
        in
        own // { cmdline = own.cmdline + registration role; };
      differing = builtins.removeAttrs roles (
        builtins.filter (name: !ownKernel roles.${name}) (builtins.attrNames roles)
      );
    in
    optionalAttrs (differing != { }) { role_boot = builtins.mapAttrs (_: files) differing; };
in
{
  pkgs = thePkgs;
  nur = nurValue;
  inherit lib modulesPath;
  # NixOS-Compose hands compositions <nixpkgs>/nixos ("${modulesPath}/tests/ssh-keys.nix")
  compositionModulesPath = "${nixpkgsInput}/nixos";

  evalRole =
    {
      roleName,
      module,
      flavour,
      ...
    }:
    let
      evaluated = evalSystem {
        inherit flavour roleName;
        modules = [ module ];
      };
    in
    {
      system = evaluated.config.system.build.toplevel;
      inherit (evaluated) config;
    };

  artefacts =
    {
      flavour,
      roles,
      dockerPorts ? { },
      extraVolumes ? [ ],
      ...
    }:
    let
      boot = (bootSystem flavour roles).config;
      # the role's system, its closure's registration (loaded at boot by flavours/docker.nix),
      # its published ports and the composition's extra volumes when there are any
      container =
        name: role:
        {
          system = "${role.system}";
          registration = registrationOf role.system;
        }
        // optionalAttrs ((dockerPorts.${name} or [ ]) != [ ]) { ports = dockerPorts.${name}; }
        // optionalAttrs (extraVolumes != [ ]) { volumes = extraVolumes; };
    in
    if flavour.name == "docker" then
      { containers = builtins.mapAttrs container roles; }
    else if ramdiskFlavour flavour then
      bootFiles boot boot.system.build.netbootRamdisk // roleBoot flavour roles boot
    else if flavour.name == "g5k-image" then
      bootFiles boot boot.system.build.initialRamdisk
      // {
        image = "${boot.system.build.nxcImage}/${boot.system.build.nxcImage.fileName}";
      }
    else
      bootFiles boot boot.system.build.initialRamdisk // roleBoot flavour roles boot;

  # nixos-test: nixpkgs' test framework (pkgs.testers.runNixOSTest, nixos/lib/testing/*.nix)
  # runs the composition's test script against one QEMU VM per node inside `nix build`.
  nixosTest =
    {
      compositionName,
      nodes,
      testScript,
      flavour,
    }:
    if !(thePkgs ? testers && thePkgs.testers ? runNixOSTest) then
      throw "nxc: the nixos-test flavour needs pkgs.testers.runNixOSTest (nixpkgs 23.05 or later); update the project's nixpkgs input"
    else
      thePkgs.testers.runNixOSTest {
        name = compositionName;
        # nixos/lib/testing/nodes.nix: module arguments usable in `imports`, for every node
        node.specialArgs = nodeArgs flavour;
        # runNixOSTest hands the nodes its pkgs read-only (nodes.nix: node.pkgsReadOnly); nxc's
        # nodes set nixpkgs.overlays as on every other flavour, and roles may set nixpkgs.*
        node.pkgsReadOnly = false;
        defaults.imports = nxcModules flavour;
        nodes = builtins.mapAttrs (_: node: {
          imports = [ node.module ];
          nxc.role = node.role;
        }) nodes;
        inherit testScript;
      };

  mkManifest =
    { name, json }:
    thePkgs.runCommand name
      {
        inherit json;
        passAsFile = [ "json" ];
      }
      ''
        mkdir -p "$out"
        cp "$jsonPath" "$out/manifest.json"
      '';
}
