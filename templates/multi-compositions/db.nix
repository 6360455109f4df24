{ pkgs, ... }:
{
  roles.db =
    { pkgs, ... }:
    {
      services.postgresql.enable = true;
    };
  testScript = ''
    db.wait_for_unit("postgresql.service")
    db.succeed("sudo -u postgres psql -c 'select 1'")
  '';
}
