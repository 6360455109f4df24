"""``python -m nxc`` runs the command-line interface."""

from nxc.cli import main

main()
