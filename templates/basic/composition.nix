{ pkgs, ... }:
{
  roles = {
    node =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.hello ];
      };
  };

  testScript = ''
    start_all()
    node.wait_for_unit("multi-user.target")
    node.succeed("hello")
  '';
}
