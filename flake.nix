{
  description = "nxc: compose reproducible distributed environments (NixOS-Compose compatible)";

  # Templates follow this input (`nixpkgs.follows = "nxc/nixpkgs"`), so a project and the
  # library always use the same release.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      nxcLib = import ./nxc/nix/lib.nix { seamFor = import ./nxc/nix/seam/nixos.nix; };

      templateDescriptions = {
        basic = "one role, a test script";
        nfs = "an NFS server and its clients";
        multi-compositions = "two compositions built together (::FLAVOUR outputs)";
        setup = "setup.toml variants and parameters (nxc build -s VARIANT -p key=value)";
        execo = "an experiment script that opens a deployment and drives its nodes";
      };
      hasSources = builtins.pathExists ./pyproject.toml;
    in
    {
      lib = nxcLib // {
        inherit nixpkgs;
      };

      templates =
        builtins.mapAttrs (name: description: {
          path = ./templates + "/${name}";
          inherit description;
        }) templateDescriptions
        // {
          default = self.templates.basic;
        };

      packages = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          python = pkgs.python3Packages;
          # execo is not in nixpkgs: built from its PyPI sdist (setup.py imports distutils,
          # which setuptools' build backend provides on Python >= 3.12)
          execo = python.buildPythonPackage rec {
            pname = "execo";
            version = "2.8.2";
            pyproject = true;
            src = pkgs.fetchPypi {
              inherit pname version;
              hash = "sha256-OO59TcPl1X5a7KjpIw/gAhKdy8GXeMihUrEjec7h3lo=";
            };
            build-system = [ python.setuptools ];
            pythonImportsCheck = [ "execo" ];
          };
          nxc = python.buildPythonApplication {
            pname = "nxc";
            version = "0.1.0";
            pyproject = true;
            src = ./.;
            build-system = [ python.hatchling ];
            dependencies = with python; [
              typer
              pyyaml
              ruamel-yaml
              asyncssh
              rich
              libtmux
              docker
              execo
            ];
            makeWrapperArgs = [
              "--prefix PATH : ${
                pkgs.lib.makeBinPath [
                  pkgs.nix
                  pkgs.qemu
                  pkgs.vde2
                  pkgs.tmux
                  pkgs.openssh
                ]
              }"
            ];
            meta.mainProgram = "nxc";
          };
        in
        if hasSources then
          {
            default = nxc;
            inherit nxc execo;
            # NixOS-Compose's name, and its poetry2nix `dependencyEnv` (nxc with its Python
            # dependencies on one PYTHONPATH) that dev shells and `apps` of its users name
            nixos-compose = nxc // {
              # an application provides no module until toPythonModule (python-packages-base.nix)
              dependencyEnv = python.python.withPackages (_: [ (python.toPythonModule nxc) ]);
            };
          }
        else
          { }
      );

      # NixOS-Compose's flakes name `defaultPackage.<system>` (pre-`packages.default` Nix)
      defaultPackage =
        if hasSources then builtins.mapAttrs (_: packages: packages.default) self.packages else { };

      devShells = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          shell = pkgs.mkShell {
            packages =
              [
                pkgs.nix
                pkgs.qemu
                pkgs.vde2
                pkgs.tmux
                pkgs.openssh
              ]
              ++ (
                if self.packages.${system} ? default then
                  [ self.packages.${system}.default ]
                else
                  [ pkgs.python3 ]
              );
          };
        in
        {
          default = shell;
          nxcShell = shell;
          # NixOS-Compose's full shell adds the Grid'5000 and Docker tools
          nxcShellFull = shell.overrideAttrs (previous: {
            nativeBuildInputs = (previous.nativeBuildInputs or [ ]) ++ [
              pkgs.docker-client
              pkgs.taktuk
              pkgs.kexec-tools
            ];
          });
        }
      );

      # Build every template's vm output with real nixpkgs (needs Nix with network).
      checks = forAllSystems (
        system:
        let
          templateOutputs =
            name:
            nxcLib.compose {
              inherit nixpkgs system;
              composition = ./templates + "/${name}/composition.nix";
              flavours = [ "vm" ];
            };
        in
        {
          template-basic = (templateOutputs "basic")."composition::vm";
          template-nfs = (templateOutputs "nfs")."composition::vm";
        }
      );
    };
}
