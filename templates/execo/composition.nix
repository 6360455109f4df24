{ pkgs, ... }:
{
  roles = {
    node =
      { pkgs, ... }:
      {
        environment.systemPackages = [
          pkgs.stress-ng
          pkgs.iperf3
        ];
      };
  };

  rolesDistribution.node = 4;

  testScript = ''
    start_all()
    node1.succeed("iperf3 --version")
  '';
}
