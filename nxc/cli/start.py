"""``nxc start``: plan the nodes of a built composition (``--dry-run`` prints the plan).

Options follow NixOS-Compose's ``nxc start``: ``-r/--role`` (also ``--role-distribution``),
a positional roles file, ``-f/--flavour``, ``-c/-C/--composition`` (``COMPOSITION::FLAVOUR``
too), ``-t/--test-script``, ``-k/--kernel-params`` (default: setup.toml's ``kernel-params``,
see :mod:`nxc.setup_options`), ``-s/--setup``, ``--ssh``; and its environment variables for
VMs, ``MEM`` (as ``--memory``) and ``QEMU_OPTS`` (as ``--qemu-opts``), an explicit flag winning.
NixOS-Compose declares ``-s`` twice, for ``--ssh`` and ``--setup``; its parser keeps the later,
so ``-s`` selects the setup variant there, as here.

Without ``--dry-run`` the flavour launches the nodes and the command returns once all are
ready (``--foreground``: stays until Ctrl-C, then stops them; ``-t``: runs the test script,
then stops them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``start`` command to ``app``."""
    app.command("start")(start)


def start(
    roles_file: Annotated[
        Path | None,
        typer.Argument(
            help="YAML or JSON file mapping each role to a count or a list of hostnames.",
            show_default=False,
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(
            "--role",
            "-r",
            "--role-distribution",
            metavar="ROLE=N|ROLE=HOST,...",
            help="Nodes of one role: a count or hostnames (repeatable; overrides the file).",
            show_default=False,
        ),
    ] = None,
    flavour: Annotated[
        str | None,
        typer.Option("--flavour", "-f", help="Flavour of the build to start.", show_default=False),
    ] = None,
    composition: Annotated[
        str | None,
        typer.Option(
            "--composition",
            "-c",
            "-C",
            help="Composition to start when the build holds several; COMPOSITION::FLAVOUR "
            "chooses the flavour too.",
            show_default=False,
        ),
    ] = None,
    kernel_params: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel-params",
            "-k",
            metavar="PARAMS",
            help="vm and Grid'5000 flavours: extra kernel parameters, space-separated "
            "(repeatable; default: setup.toml's [options] kernel-params).",
            show_default=False,
        ),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            "--setup",
            "-s",
            help="setup.toml variant whose [options] apply (default: [project] selected; "
            "NixOS-Compose's -s, as its parser reads it).",
            show_default=False,
        ),
    ] = None,
    test_script: Annotated[
        bool,
        typer.Option("--test-script", "-t", help="Run the test script once the nodes are up."),
    ] = False,
    interactive: Annotated[
        bool,
        typer.Option("--interactive", "-I", help="Open the driver's REPL once the nodes are up."),
    ] = False,
    junit_xml: Annotated[
        Path | None,
        typer.Option(
            "--junit-xml",
            metavar="PATH",
            help="With -t: write a JUnit XML report there.",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag", help="Name this deployment (several can run side by side).", show_default=False
        ),
    ] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            "-p",
            metavar="KEY=VALUE",
            help="A deployment parameter every node reads from its deployment info "
            "(parameters.KEY), e.g. -p gluster_volume=replica:3; repeat for more.",
            show_default=False,
        ),
    ] = None,
    min_nodes: Annotated[
        str | None,
        typer.Option(
            "--min-nodes",
            metavar="N|FRACTION",
            help="Go on without the nodes that did not come up (after --retries) when at least "
            "N (or 0.9, 90%) of them are ready; nxc status lists the others and why.",
            show_default=False,
        ),
    ] = None,
    add: Annotated[
        bool,
        typer.Option(
            "--add",
            help="On a running deployment: add the nodes -r (or the roles file) counts, "
            "numbered after the existing ones; every node gets the new hosts list.",
        ),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="On a running deployment: relaunch only its dead nodes (nxc status --live "
            "says which), keeping the others and their state.",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned nodes; start and write nothing.")
    ] = False,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="Build manifest to use instead of the project's latest build.",
            show_default=False,
        ),
    ] = None,
    accel: Annotated[
        str | None,
        typer.Option(
            "--accel", help="vm: force QEMU's accelerator (kvm or tcg).", show_default=False
        ),
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory",
            help="vm: memory per node (default 1024M, at least 128M; alias: MEM=...).",
            show_default=False,
        ),
    ] = None,
    qemu_opts: Annotated[
        str | None,
        typer.Option(
            "--qemu-opts",
            metavar="ARGS",
            help="vm: extra QEMU arguments, split as a shell would (alias: QEMU_OPTS=...).",
            show_default=False,
        ),
    ] = None,
    cpus: Annotated[
        int | None,
        typer.Option("--cpus", help="vm: virtual CPUs per node (default 1).", show_default=False),
    ] = None,
    forward: Annotated[
        list[str] | None,
        typer.Option(
            "--forward",
            metavar="NODE:PORT[:HOSTPORT]",
            help="vm: forward 127.0.0.1:HOSTPORT to a node's port (repeatable).",
            show_default=False,
        ),
    ] = None,
    disk_size: Annotated[
        str | None,
        typer.Option(
            "--disk-size",
            help="vm: a writable qcow2 disk of this size per node.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Seconds to wait for every node (default: by node count).",
            show_default=False,
        ),
    ] = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Stay in the foreground; Ctrl-C stops the nodes.")
    ] = False,
    oar: Annotated[
        str | None,
        typer.Option(
            "--oar",
            metavar="RESOURCES",
            help="g5k: reserve hosts in a new OAR deploy job, e.g. 'nodes=4,walltime=1:00'.",
            show_default=False,
        ),
    ] = None,
    oar_job: Annotated[
        list[str] | None,
        typer.Option(
            "--oar-job",
            metavar="ID|SITE:ID",
            help="g5k: the hosts of this OAR job (kept on stop); SITE:ID for roles placed on "
            "that site (repeatable, one per site).",
            show_default=False,
        ),
    ] = None,
    machine_file: Annotated[
        Path | None,
        typer.Option(
            "--machine-file",
            "-m",
            help="g5k: hosts listed in this file, one per line (OAR nodefiles too).",
            show_default=False,
        ),
    ] = None,
    wait_machine_file: Annotated[
        bool,
        typer.Option("--wait-machine-file", "-W", help="g5k: wait for the -m file to appear."),
    ] = False,
    oar_type: Annotated[
        list[str] | None,
        typer.Option(
            "--oar-type",
            metavar="TYPE",
            help="g5k: OAR job type of --oar (repeatable; default: deploy).",
            show_default=False,
        ),
    ] = None,
    oar_properties: Annotated[
        str | None,
        typer.Option(
            "--oar-properties",
            metavar="SQL",
            help="g5k: OAR properties the hosts of --oar must have, e.g. \"cluster='dahu'\".",
            show_default=False,
        ),
    ] = None,
    site: Annotated[
        str | None,
        typer.Option(
            "--site", help="g5k: run OAR commands through 'ssh SITE'.", show_default=False
        ),
    ] = None,
    ssh: Annotated[
        str | None,
        typer.Option(
            "--ssh",
            metavar="COMMAND",
            help="g5k: how to reach the hosts, 'ssh [-l USER] [OPTIONS]' (default: 'ssh -l root').",
            show_default=False,
        ),
    ] = None,
    ssh_config: Annotated[
        Path | None,
        typer.Option(
            "--ssh-config",
            metavar="FILE",
            help="g5k: OpenSSH client configuration reaching the frontend and the hosts "
            "(default: ~/.ssh/config).",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int | None,
        typer.Option(
            "--retries",
            help="g5k: boot nodes that did not come back again, N times.",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option(
            "--max-concurrency",
            metavar="N",
            help="g5k: work on at most N hosts at once (boot files, kexec, Kadeploy; default 64).",
            show_default=False,
        ),
    ] = None,
    nfs_server: Annotated[
        str | None,
        typer.Option(
            "--nfs-server",
            metavar="ADDRESS",
            help="g5k-nfs-store: the NFS server exporting /nix/store (default: this machine).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start the nodes of a built composition.

    Environment, as NixOS-Compose's VMs read it: MEM (as --memory) and QEMU_OPTS (as
    --qemu-opts) for the vm flavours; an explicit flag wins, other flavours ignore them
    (--debug says so).
    """
    from nxc.cli.app import settings
    from nxc.cli.start_report import CliStartReporter
    from nxc.start_request import HostRequest, StartRequest, VmRequest, after_start
    from nxc.start_sequence import carry_out

    request = StartRequest(
        roles_file=roles_file,
        roles=tuple(role or ()),
        flavour=flavour,
        composition=composition,
        tag=tag,
        parameters=tuple(parameter or ()),
        min_nodes=min_nodes,
        manifest=manifest,
        dry_run=dry_run,
        after=after_start(test_script, interactive, foreground),
        junit_xml=junit_xml,
        add=add,
        repair=repair,
        vm=VmRequest(accel, memory, cpus, tuple(forward or ()), disk_size, qemu_opts),
        hosts=HostRequest(
            oar_request=oar,
            oar_jobs=tuple(oar_job or ()),
            oar_types=tuple(oar_type or ()),
            oar_properties=oar_properties,
            machine_file=machine_file,
            wait_for_file=wait_machine_file,
            site=site,
            ssh=ssh,
            ssh_config=ssh_config,
            retries=retries,
            nfs_server=nfs_server,
            max_concurrency=max_concurrency,
        ),
        kernel_params=tuple(kernel_params or ()),
        setup_variant=variant,
        timeout=timeout,
        environment=os.environ,
        project_dir=settings.envdir,
        verbose=settings.verbose > 0,
    )
    outcome = carry_out(request, CliStartReporter(debug=settings.debug))
    if outcome.junit_xml is not None:
        typer.echo(f"JUnit report: {outcome.junit_xml}", err=True)
    if outcome.script_passed is False:
        typer.echo("test script FAILED", err=True)
        raise typer.Exit(1)
