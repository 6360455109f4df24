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
              jinja2
              asyncssh
              rich
              libtmux
              docker
            ];
            # execo is not packaged in nixpkgs: the Grid'5000 bench drivers need it from PyPI
            pythonRemoveDeps = [ "execo" ];
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
            inherit nxc;
          }
        else
          { }
      );

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
