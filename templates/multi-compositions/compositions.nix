# Several compositions in one project: outputs "<name>::<flavour>" for each, plus
# "::<flavour>" (all of them in one image) for the all-in-one flavours.
{
  web = import ./web.nix;
  db = import ./db.nix;
}
