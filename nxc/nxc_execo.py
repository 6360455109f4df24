"""NixOS-Compose's execo entry point, for experiment scripts written against it.

``from nxc.nxc_execo import get_oar_job_nodes_nxc`` replaces
``from nixos_compose.nxc_execo import get_oar_job_nodes_nxc``: the same arguments, the same
``(nodes, roles)`` result. The deployment goes through ``nxc start`` (so it is recorded, and
``nxc stop`` undoes it); the returned hosts carry the deployment's own key.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from nxc.errors import ExternalCommandError, InputError


def get_oar_job_nodes_nxc(
    oar_job_id: int | None,
    site: str | None = None,
    compose_info_file: str | Path | None = None,
    flavour_name: str = "g5k-nfs-store",
    composition_name: str = "composition",
    roles_quantities: dict[str, int] | None = None,
    port: int = 0,
    skip_deploy: bool = False,
    image_store_ssh: str | None = None,
    *,
    project: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """Deploy the built composition on the hosts of OAR job ``oar_job_id`` (Grid'5000
    flavours; ``site`` runs OAR through ``ssh SITE``) or on VMs (``flavour_name="vm"``), and
    return ``(nodes, roles)``: hostname → ``execo.Host``, role → list of ``execo.Host``.

    ``roles_quantities`` gives the node count of each role; ``compose_info_file`` a build
    manifest to use instead of the project's latest build; ``skip_deploy`` only opens the
    latest deployment. ``port`` (the info server's port) and ``image_store_ssh`` are
    NixOS-Compose settings nxc does not need; they are accepted and ignored. ``project`` is
    the project folder (default: found from the current folder).
    """
    from nxc.api import open_deployment

    del port, image_store_ssh
    if not skip_deploy:
        arguments = ["start", "-f", flavour_name, "-c", composition_name]
        if flavour_name.startswith("g5k"):
            if oar_job_id is None:
                raise InputError(f"get_oar_job_nodes_nxc: {flavour_name} needs an OAR job id")
            arguments += ["--oar-job", str(oar_job_id)]
            if site:
                arguments += ["--site", site]
        for role, count in (roles_quantities or {}).items():
            arguments += ["-r", f"{role}={count}"]
        if compose_info_file is not None:
            arguments += ["--manifest", str(compose_info_file)]
        _run_nxc(arguments, project)
    environment = open_deployment(project=project)
    try:
        return _execo_hosts(environment)
    finally:
        environment.close()


def _run_nxc(arguments: list[str], project: str | Path | None) -> None:
    """``nxc ARGUMENTS`` in the project folder; :class:`ExternalCommandError` with its error."""
    command = [sys.executable, "-m", "nxc", *arguments]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise ExternalCommandError(f"nxc {' '.join(arguments)}: {lines[-1]}")


def _execo_hosts(environment: Any) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """NixOS-Compose's ``(nodes, roles)`` for an open :class:`~nxc.api.Environment`."""
    from execo.host import Host

    keyfile = environment.execo_connection_params()["keyfile"]
    nodes: dict[str, Any] = {}
    roles: dict[str, list[Any]] = {}
    for node in environment.nodes():
        host = Host(node.ssh_host, user="root", keyfile=keyfile, port=node.ssh_port)
        nodes[node.hostname] = host
        roles.setdefault(node.role, []).append(host)
    return nodes, roles
