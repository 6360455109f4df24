{ pkgs, setup, ... }:
{
  roles = {
    coordinator =
      { pkgs, ... }:
      {
        environment.etc."nxc-message".text = setup.params.message;
      };
    worker =
      { pkgs, ... }:
      {
        environment.etc."nxc-message".text = setup.params.message;
      };
  };

  rolesDistribution.worker = setup.params.workers;

  testScript = ''
    start_all()
    coordinator.succeed("grep -q hello /etc/nxc-message")
  '';
}
