{ pkgs, ... }:
{
  roles.web =
    { pkgs, ... }:
    {
      services.nginx.enable = true;
    };
  testScript = ''
    web.wait_for_unit("nginx.service")
    web.succeed("curl -sf http://localhost/ > /dev/null")
  '';
}
