# lib.compose: the nixpkgs-free core of the Nix library.
#
# `seamFor` turns the caller's arguments into the seam, the only place nixpkgs is touched
# (seam/nixos.nix for real builds, tests/fixtures/nixlib/seam.nix for the test suite):
#   pkgs, lib, nur?                   handed to compositions
#   compositionModulesPath            handed to compositions as modulesPath (<nixpkgs>/nixos,
#                                     as NixOS-Compose does; roles keep NixOS' own modulesPath)
#   evalRole { compositionName, roleName, module, flavour, setup }
#                                     -> { system = <derivation>; }
#   artefacts { compositionName, flavour, roles, dockerPorts, extraVolumes }
#                                     -> { kernel?, initrd?, cmdline?, image?, containers? }
#   mkManifest { name, json }         -> derivation whose output holds manifest.json
#   nixosTest { compositionName, nodes, testScript, flavour }
#                                     -> the NixOS test derivation (nixos-test flavour); nodes:
#                                        hostname -> { role, module }; passthru nodes.<hostname>
#
# Everything else (names, compositions, roles, test script, defaults, setup, manifest) is here.
seamFor:
{
  nixpkgs ? null,
  system ? "x86_64-linux",
  composition ? null,
  compositions ? null,
  single_composition_name ? "composition",
  flavours ? null,
  flavour ? null,
  extraConfigurations ? [ ],
  overlays ? [ ],
  setup ? null,
  nur ? null,
  NUR ? null,
  repoOverrides ? { },
  pkgs ? null,
  ...
}:
let
  knownFlavours = import ./flavours.nix;
  testFlavour = "nixos-test";
  helpers = import ./helpers.nix;

  envOverrides = builtins.getEnv "NXC_SETUP_OVERRIDES";
  setupValue = import ./setup.nix {
    inherit setup;
    overrides = if envOverrides == "" then { } else builtins.fromJSON envOverrides;
  };

  seam = seamFor {
    inherit
      nixpkgs
      system
      extraConfigurations
      overlays
      nur
      NUR
      repoOverrides
      pkgs
      ;
    setup = setupValue;
  };

  optionalAttrs = condition: attrs: if condition then attrs else { };

  importIfPath = value: if builtins.isPath value || builtins.isString value then import value else value;

  compositionTable =
    if compositions != null then
      let
        table = importIfPath compositions;
      in
      if builtins.isAttrs table then
        table
      else
        throw "nxc: `compositions` must be an attribute set of compositions (name = composition), got a ${builtins.typeOf table}"
    else if composition != null then
      { ${single_composition_name} = importIfPath composition; }
    else
      throw "nxc: lib.compose needs `composition = ./composition.nix;` or `compositions = ./compositions.nix;`";

  flavourTable =
    let
      wanted =
        if flavours != null then
          importIfPath flavours
        else if flavour != null then
          [ flavour ]
        else
          builtins.attrNames knownFlavours;
      asName = f: if builtins.isAttrs f then f.name else f;
      names = if builtins.isList wanted then map asName wanted else builtins.attrNames wanted;
      unknown = builtins.filter (name: !(knownFlavours ? ${name})) names;
    in
    if unknown != [ ] then
      throw "nxc: unknown flavour '${builtins.head unknown}' in lib.compose's flavours; known flavours: ${builtins.concatStringsSep ", " (builtins.attrNames knownFlavours)}"
    else
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = knownFlavours.${name};
        }) names
      );

  compositionArgs = flavourMeta: {
    inherit (seam) pkgs lib;
    modulesPath = seam.compositionModulesPath;
    inherit system helpers;
    # the seam builds NUR from `NUR`/`repoOverrides`; fixture seams leave the caller's `nur`
    nur = seam.nur or nur;
    flavour = flavourMeta;
    setup = setupValue;
  };

  # A composition is a function (called with compositionArgs) or an attribute set.
  loadComposition =
    name: value: flavourMeta:
    let
      body =
        if builtins.isFunction value then
          value (compositionArgs flavourMeta)
        else if builtins.isAttrs value then
          value
        else
          throw "nxc: composition '${name}' must be a function ({ pkgs, ... }: { roles = ...; }) or an attribute set, got a ${builtins.typeOf value}";
      roles =
        if body ? roles then
          body.roles
        else if body ? nodes then
          body.nodes
        else
          throw "nxc: composition '${name}' defines neither `roles` nor `nodes`";
    in
    if !(builtins.isAttrs body) then
      throw "nxc: composition '${name}' must evaluate to an attribute set, got a ${builtins.typeOf body}"
    else if !(builtins.isAttrs roles) then
      throw "nxc: `roles` of composition '${name}' must be an attribute set (role = module)"
    else
      {
        inherit roles;
        testScript = body.testScript or "";
        rolesDistribution = body.rolesDistribution or { };
        dockerPorts = body.dockerPorts or { };
        extraVolumes = body.extraVolumes or [ ];
      };

  checkModule =
    compositionName: roleName: module:
    if builtins.isFunction module || builtins.isAttrs module || builtins.isPath module then
      module
    else
      throw "nxc: role '${roleName}' of composition '${compositionName}' is not a NixOS module (a function, attribute set or path), got a ${builtins.typeOf module}";

  # The nodes nxc start gives a composition left at its defaults (nxc/roles.py, as
  # NixOS-Compose names them): the role's name for one node, <role>1 .. <role>N for more.
  nodeNames =
    roleName: count:
    if count == 1 then [ roleName ] else builtins.genList (i: "${roleName}${toString (i + 1)}") count;

  # nixos-test: the composition is one NixOS test, run inside `nix build` (no deployment). Its
  # nodes are the roles' default nodes; a role's system (for nxc check) is its first node's.
  evalTest =
    compositionName: flavourMeta: loaded: defaultCount:
    let
      hostnames = builtins.mapAttrs (roleName: _: nodeNames roleName (defaultCount roleName)) loaded.roles;
      nodes = builtins.listToAttrs (
        builtins.concatMap (
          roleName:
          map (hostname: {
            name = hostname;
            value = {
              role = roleName;
              module = checkModule compositionName roleName loaded.roles.${roleName};
            };
          }) hostnames.${roleName}
        ) (builtins.attrNames loaded.roles)
      );
      testScript =
        if builtins.isPath loaded.testScript then
          builtins.readFile loaded.testScript
        else if builtins.isFunction loaded.testScript || builtins.isString loaded.testScript then
          loaded.testScript
        else
          throw "nxc: `testScript` of composition '${compositionName}' must be a string, a function or a file, got a ${builtins.typeOf loaded.testScript}";
      # without a script of its own, the test boots every node (`machines`: the driver's list)
      bootScript = ''
        start_all()
        for machine in machines:
            machine.wait_for_unit("multi-user.target")
      '';
      test =
        if !(seam ? nixosTest) then
          throw "nxc: this seam cannot run NixOS tests (no nixosTest); the nixos-test flavour needs nxc's NixOS seam"
        else
          seam.nixosTest {
            inherit compositionName nodes;
            testScript = if testScript == "" then bootScript else testScript;
            flavour = flavourMeta;
          };
    in
    {
      inherit test;
      roles = builtins.mapAttrs (
        roleName: names: test.nodes.${builtins.head names}.system.build.toplevel
      ) hostnames;
    };

  # nxc.after / nxc.readiness of a role (modules/activation.nix), as the manifest holds them:
  # the roles it waits for, and its check ({ unit } or { command }; {} when none).
  nxcOf = role: (role.config or { }).nxc or { };
  afterOf =
    compositionName: roleName: role:
    let
      after = (nxcOf role).after or [ ];
    in
    if builtins.isList after && builtins.all builtins.isString after then
      after
    else
      throw "nxc: nxc.after of role '${roleName}' in composition '${compositionName}' must be a list of role names, got ${builtins.toJSON after}";
  readinessOf =
    compositionName: roleName: role:
    let
      given = (nxcOf role).readiness or { };
      set = builtins.removeAttrs given (
        builtins.filter (name: given.${name} == null) (builtins.attrNames given)
      );
    in
    if builtins.length (builtins.attrNames set) > 1 then
      throw "nxc: role '${roleName}' of composition '${compositionName}' sets both nxc.readiness.unit and nxc.readiness.command; keep one of the two"
    else
      set;

  # Every role of nxc.after is a role of the composition, and no roles wait for each other in a
  # cycle (nxc/manifest.py checks the same when it reads the manifest). True, or a throw.
  checkAfter =
    compositionName: afters:
    let
      names = builtins.attrNames afters;
      unknownOf = roleName: builtins.filter (need: !(afters ? ${need})) afters.${roleName};
      wrong = builtins.filter (roleName: unknownOf roleName != [ ]) names;
      fromFirst = name: path: if builtins.head path == name then path else fromFirst name (builtins.tail path);
      visit =
        path: roleName:
        if builtins.elem roleName path then
          throw "nxc: composition '${compositionName}': roles wait for each other in a cycle (${builtins.concatStringsSep " -> " (fromFirst roleName path ++ [ roleName ])}) through nxc.after; remove one of these dependencies"
        else
          builtins.all (visit (path ++ [ roleName ])) afters.${roleName};
    in
    if wrong != [ ] then
      let
        roleName = builtins.head wrong;
      in
      throw "nxc: composition '${compositionName}': role '${roleName}' waits for unknown role(s) ${builtins.concatStringsSep ", " (unknownOf roleName)} in nxc.after (roles: ${builtins.concatStringsSep ", " names}); fix its nxc.after"
    else
      builtins.all (visit [ ]) names;

  evalComposition =
    compositionName: flavourMeta:
    let
      loaded = loadComposition compositionName compositionTable.${compositionName} flavourMeta;
      roles = builtins.mapAttrs (
        roleName: module:
        seam.evalRole {
          inherit compositionName roleName;
          module = checkModule compositionName roleName module;
          flavour = flavourMeta;
          setup = setupValue;
        }
      ) loaded.roles;
      artefacts = seam.artefacts {
        inherit compositionName roles;
        flavour = flavourMeta;
        # NixOS-Compose's docker settings: published ports per role, volumes of every container
        inherit (loaded) dockerPorts extraVolumes;
      };
      testScript =
        if builtins.isFunction loaded.testScript then
          loaded.testScript { nodes = roles; }
        else if builtins.isPath loaded.testScript then
          builtins.readFile loaded.testScript
        else if builtins.isString loaded.testScript then
          loaded.testScript
        else
          throw "nxc: `testScript` of composition '${compositionName}' must be a string or a file, got a ${builtins.typeOf loaded.testScript}";
      unknownCounted = builtins.filter (r: !(loaded.roles ? ${r})) (
        builtins.attrNames loaded.rolesDistribution
      );
      defaultCount =
        roleName:
        let
          count = loaded.rolesDistribution.${roleName} or 1;
        in
        if builtins.isInt count && count >= 1 then
          count
        else
          throw "nxc: rolesDistribution.${roleName} of composition '${compositionName}' must be a positive integer, got ${builtins.toJSON count}";
      afters = builtins.mapAttrs (afterOf compositionName) roles;
      readiness = builtins.mapAttrs (readinessOf compositionName) roles;
      # NixOS-Compose ignores counts of roles the composition lacks: a warning (a trace), once.
      warnUnknownCounted =
        if unknownCounted == [ ] then
          (value: value)
        else
          builtins.trace "nxc: warning: rolesDistribution of composition '${compositionName}' names ${builtins.concatStringsSep ", " unknownCounted}, not among its roles (${builtins.concatStringsSep ", " (builtins.attrNames loaded.roles)}); ignored";
    in
    if flavourMeta.name == testFlavour then
      warnUnknownCounted (evalTest compositionName flavourMeta loaded defaultCount)
    else
      {
        inherit roles;
        manifest = builtins.seq (checkAfter compositionName afters) {
          roles = warnUnknownCounted (
            builtins.mapAttrs (
              roleName: role:
              {
                system = "${role.system}";
                default_count = defaultCount roleName;
                # nxc.root-sshKeys.enable (modules/root-ssh-key.nix): nxc start makes the key
                root_ssh_key = (nxcOf role)."root-sshKeys".enable or false;
              }
              // optionalAttrs (afters.${roleName} != [ ]) { after = afters.${roleName}; }
              // optionalAttrs (readiness.${roleName} != { }) { readiness = readiness.${roleName}; }
            ) roles
          );
          test_script = testScript;
          inherit artefacts;
        };
      };

  package =
    name: flavourMeta: names:
    let
      evaluated = builtins.listToAttrs (
        map (c: {
          name = c;
          value = evalComposition c flavourMeta;
        }) names
      );
      manifest = {
        nxc_manifest = 1;
        flavour = flavourMeta.name;
        inherit system;
        compositions = builtins.mapAttrs (_: e: e.manifest) evaluated;
      };
    in
    seam.mkManifest {
      name =
        if builtins.length names == 1 then
          "${builtins.head names}-${flavourMeta.name}"
        else
          "all-compositions-${flavourMeta.name}";
      json = builtins.toJSON manifest;
    }
    // {
      nxc = {
        inherit name manifest;
        flavour = flavourMeta.name;
        compositions = names;
        roles = builtins.mapAttrs (_: e: builtins.mapAttrs (_: r: r.system) e.roles) evaluated;
      };
    };

  # one test per composition: nixos-test's output is the test derivation, not a manifest
  testPackage =
    name: flavourMeta: compositionName:
    let
      evaluated = evalComposition compositionName flavourMeta;
    in
    evaluated.test
    // {
      nxc = {
        inherit name;
        flavour = flavourMeta.name;
        compositions = [ compositionName ];
        roles.${compositionName} = evaluated.roles;
      };
    };

  compositionNames = builtins.attrNames compositionTable;
  flavourNames = builtins.attrNames flavourTable;

  single = builtins.concatMap (
    c:
    map (f: {
      name = "${c}::${f}";
      value =
        if f == testFlavour then
          testPackage "${c}::${f}" flavourTable.${f} c
        else
          package "${c}::${f}" flavourTable.${f} [ c ];
    }) flavourNames
  ) compositionNames;

  allInOne =
    if builtins.length compositionNames < 2 then
      [ ]
    else
      map (f: {
        name = "::${f}";
        value = package "::${f}" flavourTable.${f} compositionNames;
      }) (builtins.filter (f: flavourTable.${f}.all_in_one && f != testFlavour) flavourNames);
in
builtins.listToAttrs (single ++ allInOne)
