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

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nxc.cli.flags import FLAGS
from nxc.deployment import DeploymentState
from nxc.errors import InputError, ManifestError
from nxc.flavours import registry

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from nxc.deployment import Deployment, DeploymentStore
    from nxc.driver.session import TestScript
    from nxc.flavours.base import Flavour
    from nxc.plan import Plan
    from nxc.setup_options import SetupOptions


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
        int | None,
        typer.Option(
            "--oar-job", help="g5k: the hosts of this OAR job (kept on stop).", show_default=False
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
    from nxc.build import check_deployable

    composition, flavour = _composition_flavour(composition, flavour)
    check_deployable(flavour)
    if dry_run:
        if manifest is None:
            raise InputError("--dry-run needs --manifest PATH (the build manifest to plan from)")
        plan = _plan(
            manifest, roles_file, role or [], flavour, composition, tag, parameter or [], min_nodes
        )
        _print_plan(plan, test_script)
        return
    if test_script and foreground:
        raise InputError("give -t/--test-script or --foreground, not both")
    if interactive and (test_script or foreground):
        raise InputError("give -I/--interactive alone, not with -t/--test-script or --foreground")
    if junit_xml is not None and not test_script:
        raise InputError("--junit-xml reports on the test script: add -t/--test-script")
    if repair and (test_script or foreground or interactive):
        raise InputError(
            "--repair relaunches the dead nodes of a running deployment and returns; run the "
            "test script on it with 'nxc driver -t'"
        )
    if add and (repair or test_script or foreground or interactive):
        raise InputError(
            "--add grows a running deployment and returns; give it alone (run the test "
            "script with 'nxc driver -t')"
        )
    manifest_path = manifest or _latest_build(flavour, composition)
    plan = _plan(
        manifest_path, roles_file, role or [], flavour, composition, tag, parameter or [], min_nodes
    )
    if repair:
        _repair(plan.deployment_name)
        return
    vm = VmOptions(accel, memory, cpus, tuple(forward or ()), disk_size, qemu_opts)
    options = _flavour_options(plan.flavour, vm, timeout)
    options |= _kernel_options(plan.flavour, kernel_params or [], variant)
    options |= _g5k_options(
        plan.flavour,
        HostOptions(
            oar=oar,
            oar_job=oar_job,
            oar_types=tuple(oar_type or ()),
            oar_properties=oar_properties,
            machine_file=machine_file,
            wait_machine_file=wait_machine_file,
            site=site,
            ssh=ssh,
            ssh_config=ssh_config,
            retries=retries,
            nfs_server=nfs_server,
            max_concurrency=max_concurrency,
        ),
    )
    if add:
        _add(plan, roles_file, role or [], options)
        return
    _launch(plan, manifest_path, options, foreground, test_script, interactive, junit_xml)


def _plan(
    manifest_path: Path,
    roles_file: Path | None,
    role_options: list[str],
    flavour: str | None,
    composition: str | None,
    tag: str | None,
    parameter_options: list[str],
    min_nodes: str | None,
) -> Plan:
    from nxc import manifest as manifest_module
    from nxc.flavours.names import check_flavour_name
    from nxc.plan import check_tag, parse_parameters, plan_nodes
    from nxc.roles import parse_role_options, read_roles_file

    if flavour is not None:
        check_flavour_name(flavour, "-f/--flavour")
    if tag is not None:
        check_tag(tag)
    options = parse_role_options(role_options)
    parameters = parse_parameters(parameter_options)
    from_file = read_roles_file(roles_file) if roles_file is not None else {}
    built = manifest_module.load(manifest_path)
    if flavour is not None and flavour != built.flavour:
        raise ManifestError(
            f"{manifest_path}: built for flavour {built.flavour}, not {flavour}; "
            f"build it with 'nxc build -f {flavour}' or drop -f"
        )
    return plan_nodes(
        built,
        composition,
        from_file,
        options,
        tag=tag,
        parameters=parameters,
        min_nodes=min_nodes,
    )


def _print_plan(plan: Plan, test_script: bool) -> None:
    hostname_width = max(len("HOSTNAME"), *(len(node.hostname) for node in plan.nodes))
    lines = [
        f"{plan.deployment_name}: {len(plan.nodes)} node(s) (dry run: nothing started or written)",
        f"{'HOSTNAME':<{hostname_width}}  ROLE",
    ]
    lines += [f"{node.hostname:<{hostname_width}}  {node.role}" for node in plan.nodes]
    lines += [f"parameter {key}={value}" for key, value in plan.parameters.items()]
    if plan.min_nodes is not None:
        lines.append(f"goes on with at least {plan.min_nodes} of {len(plan.nodes)} node(s) ready")
    if test_script:
        lines.append("then: run the composition's test script")
    typer.echo("\n".join(lines))


def _composition_flavour(
    composition: str | None, flavour: str | None
) -> tuple[str | None, str | None]:
    """``-C COMPOSITION::FLAVOUR`` split (NixOS-Compose's form); ``-f`` must agree with it."""
    if composition is None or "::" not in composition:
        return composition, flavour
    name, _, named_flavour = composition.partition("::")
    if not name or not named_flavour or "::" in named_flavour:
        raise InputError(
            f"-C {composition!r}: expected COMPOSITION::FLAVOUR, e.g. -C composition::vm"
        )
    if flavour is not None and flavour != named_flavour:
        raise InputError(f"-C {composition} and -f {flavour} disagree; give only one of them")
    return name, named_flavour


VM_FLAVOURS = registry.taking("qemu")
"""Flavours booting QEMU VMs here, all taking the vm options (from the flavour table)."""

VM_ONLY_OPTIONS = {
    key: FLAGS[key] for key in ("accel", "memory", "cpus", "forwards", "disk_size", "qemu_options")
}
"""The vm flavours' own options: flavour keyword → command-line option."""

ENVIRONMENT_ALIASES = {"MEM": "memory", "QEMU_OPTS": "qemu_options"}
DRIVER_BOOT_TIMEOUT = 900.0
"""How long the test script waits for a node without ``--timeout`` (as ``nxc driver``'s
``--boot-timeout`` and the NixOS test driver's waits)."""
"""NixOS-Compose's environment variables for VMs → the vm flavours' keyword they stand for."""

OPTION_NAMES = {
    **VM_ONLY_OPTIONS,
    "timeout": FLAGS["timeout"],
    "kernel_params": "-k/--kernel-params",
}
"""Every flavour keyword ``nxc start`` may pass → its command-line option."""


def only_apply(options: list[str], where: str) -> str:
    """'--oar applies only to ...' / '-W, --ssh-config apply only to ...'."""
    verb = "applies" if len(options) == 1 else "apply"
    return f"{', '.join(options)} {verb} only to {where}"


def _latest_build(flavour: str | None, composition: str | None) -> Path:
    """The manifest of the project's latest build (of ``-f``, else nxc.json's flavour)."""
    from nxc.build import check_deployable
    from nxc.cli.app import settings
    from nxc.deploy import built_manifest
    from nxc.project import find_project

    project = find_project(settings.envdir)
    chosen = flavour or project.default_flavour
    check_deployable(chosen)
    return built_manifest(project.build_dir, chosen, composition)


@dataclass(frozen=True)
class VmOptions:
    """The ``nxc start`` options of the vm flavours, as given (None: not given)."""

    accel: str | None = None
    memory: str | None = None
    cpus: int | None = None
    forwards: tuple[str, ...] = ()
    disk_size: str | None = None
    qemu_opts: str | None = None

    def given(self) -> dict[str, object]:
        """The flavour keywords given on the command line, with their values."""
        values: dict[str, object] = {
            "accel": self.accel,
            "memory": self.memory,
            "cpus": self.cpus,
            "forwards": list(self.forwards) or None,
            "disk_size": self.disk_size,
        }
        if self.qemu_opts is not None:
            values["qemu_options"] = _arguments(self.qemu_opts, "--qemu-opts")
        return {key: value for key, value in values.items() if value is not None}


def _arguments(text: str, where: str) -> tuple[str, ...]:
    import shlex

    try:
        return tuple(shlex.split(text))
    except ValueError as error:
        raise InputError(f"{where} {text!r}: {error}; quote it as a shell would") from None


def _flavour_options(flavour: str, vm: VmOptions, timeout: float | None) -> dict[str, object]:
    """Keyword arguments for the flavour; vm-only options are refused for other flavours."""
    given = vm.given()
    if flavour not in VM_FLAVOURS and given:
        raise InputError(
            f"{only_apply([VM_ONLY_OPTIONS[key] for key in given], 'the vm flavour')}, "
            f"not {flavour}; drop {'it' if len(given) == 1 else 'them'}"
        )
    given |= _environment_aliases(flavour, given)
    if timeout is not None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise InputError(f"--timeout {timeout:g}: must be a positive number of seconds")
        given["timeout"] = timeout
    return given


def _environment_aliases(flavour: str, given: dict[str, object]) -> dict[str, object]:
    """``MEM`` and ``QEMU_OPTS`` for a vm flavour, where their flag was not given."""
    from nxc.cli.app import settings

    found = {name: os.environ[name] for name in ENVIRONMENT_ALIASES if os.environ.get(name)}
    if flavour not in VM_FLAVOURS:
        if found and settings.debug:
            typer.echo(f"nxc: {', '.join(found)} ignored: for the vm flavours only", err=True)
        return {}
    aliases: dict[str, object] = {}
    for name, value in found.items():
        key = ENVIRONMENT_ALIASES[name]
        if key in given:
            if settings.debug:
                typer.echo(f"nxc: {name} ignored: {VM_ONLY_OPTIONS[key]} given", err=True)
            continue
        if key == "memory":
            from nxc.flavours.vm.qemu import parse_memory

            try:
                parse_memory(value)
            except InputError as error:
                raise InputError(
                    f"MEM={value!r} (the alias of --memory): {error.render(FLAGS)}"
                ) from None
            aliases[key] = value
        else:
            aliases[key] = _arguments(value, "QEMU_OPTS")
    return aliases


def _setup_options(variant: str | None) -> SetupOptions:
    """setup.toml's options of the project here; none outside a project (``--manifest``
    alone needs none) unless ``-s`` asks for a variant."""
    from nxc.cli.app import settings
    from nxc.errors import ProjectError
    from nxc.project import find_project
    from nxc.setup_options import SetupOptions, read_setup_options

    try:
        root = find_project(settings.envdir).root
    except ProjectError:
        if variant is not None:
            raise
        return SetupOptions()
    return read_setup_options(root, variant)


def _kernel_options(flavour: str, given: list[str], variant: str | None) -> dict[str, object]:
    """``kernel_params`` for the flavour: ``-k``, else setup.toml's ``kernel-params``.

    An explicit ``-k`` is refused for a flavour without a kernel of its own (docker);
    setup.toml's are ignored there (as NixOS-Compose ignored them), said under ``--debug``.
    """
    from nxc.cli.app import settings
    from nxc.setup_options import split_kernel_params

    params = tuple(word for text in given for word in split_kernel_params(text, "-k"))
    if not given:
        params = _setup_options(variant).kernel_params or ()
    if not params:
        return {}
    if not registry.takes(flavour, "kernel_params"):
        if given:
            raise InputError(
                f"-k/--kernel-params: the {flavour} flavour boots no kernel of its own "
                "(containers share this machine's); drop -k"
            )
        if settings.debug:
            typer.echo(
                f"nxc: setup.toml kernel-params ignored: {flavour} boots no kernel", err=True
            )
        return {}
    return {"kernel_params": params}


def _takes(flavour: str, keyword: str) -> bool:
    """Whether the flavour's constructor accepts ``keyword``."""
    import inspect

    from nxc.flavours import flavour_class

    parameters = inspect.signature(flavour_class(flavour)).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return takes_any or keyword in parameters


G5K_FLAVOURS = registry.taking("hosts")
"""Flavours deploying on physical hosts (from the flavour table)."""
GRID5000_FLAVOURS = "the Grid'5000 flavours"


@dataclass(frozen=True)
class HostOptions:
    """The ``nxc start`` options saying where Grid'5000 hosts come from and how to reach them."""

    oar: str | None = None
    oar_job: int | None = None
    oar_types: tuple[str, ...] = ()
    oar_properties: str | None = None
    machine_file: Path | None = None
    wait_machine_file: bool = False
    site: str | None = None
    ssh: str | None = None
    ssh_config: Path | None = None
    retries: int | None = None
    nfs_server: str | None = None
    max_concurrency: int | None = None

    def given(self) -> list[str]:
        """The options given on the command line, by name."""
        values = {
            "--oar": self.oar,
            "--oar-job": self.oar_job,
            "--oar-type": self.oar_types or None,
            "--oar-properties": self.oar_properties,
            "-m": self.machine_file,
            "-W": self.wait_machine_file or None,
            "--site": self.site,
            "--ssh": self.ssh,
            "--ssh-config": self.ssh_config,
            "--retries": self.retries,
            "--nfs-server": self.nfs_server,
            "--max-concurrency": self.max_concurrency,
        }
        return [name for name, value in values.items() if value is not None]


def _g5k_options(flavour: str, chosen: HostOptions) -> dict[str, object]:
    """Keyword arguments of the Grid'5000 flavours: where the hosts come from, retries."""
    given = chosen.given()
    if flavour not in G5K_FLAVOURS:
        if given:
            raise InputError(
                f"{only_apply(given, GRID5000_FLAVOURS)} "
                f"({', '.join(G5K_FLAVOURS)}), not {flavour}; "
                f"drop {'it' if len(given) == 1 else 'them'}"
            )
        return {}
    from nxc.flavours.g5k.hosts import HostSource
    from nxc.platforms.oar import Frontend, OarRequest, job_id_from_environment

    if chosen.oar is None and (chosen.oar_types or chosen.oar_properties is not None):
        raise InputError("--oar-type and --oar-properties shape a new reservation: add --oar")
    from nxc.transport import sshconfig

    if chosen.ssh_config is not None and not chosen.ssh_config.is_file():
        raise InputError(f"--ssh-config {chosen.ssh_config}: no such file")
    config = sshconfig.config_file(chosen.ssh_config)
    frontend = Frontend(host=chosen.site, ssh_options=tuple(sshconfig.openssh_options(config)))
    request = None
    if chosen.oar is not None:
        request = OarRequest(
            chosen.oar,
            job_types=chosen.oar_types or ("deploy",),
            properties=chosen.oar_properties,
        )
    hosts = HostSource(
        oar_request=request,
        oar_job=chosen.oar_job,
        machine_file=chosen.machine_file,
        wait_for_file=chosen.wait_machine_file,
        frontend=frontend,
    )
    no_hosts = request is None and chosen.oar_job is None and chosen.machine_file is None
    if no_hosts and job_id_from_environment() is None:
        raise InputError(
            f"-f {flavour}: no hosts given; reserve some with --oar 'nodes=N,walltime=H:MM', "
            "use a job with --oar-job ID, or list hosts in a file with -m FILE"
        )
    options: dict[str, object] = {"hosts": hosts}
    if chosen.ssh is not None:
        options["host_user"], options["host_ssh_options"] = ssh_command(chosen.ssh)
    if chosen.ssh_config is not None:
        options["ssh_config"] = chosen.ssh_config
    if chosen.retries is not None:
        if chosen.retries < 0:
            raise InputError(f"--retries {chosen.retries} must be 0 or more")
        options["retries"] = chosen.retries
    if chosen.max_concurrency is not None:
        if chosen.max_concurrency < 1:
            raise InputError(f"--max-concurrency {chosen.max_concurrency} must be 1 or more")
        options["max_concurrency"] = chosen.max_concurrency
    if chosen.nfs_server is not None:
        if not registry.takes(flavour, "nfs_server"):
            takers = ", ".join(registry.taking("nfs_server"))
            raise InputError(f"--nfs-server is for {takers}, not {flavour}; drop it")
        if not chosen.nfs_server.strip() or any(c.isspace() for c in chosen.nfs_server):
            raise InputError(f"--nfs-server {chosen.nfs_server!r} is not a host address")
        options["nfs_server"] = chosen.nfs_server
    return options


SSH_OPTIONS_WITH_ARGUMENT = "BbcDEeFIiJLlmOoPpQRSWw"
"""OpenSSH client options taking an argument (ssh(1) synopsis)."""


def ssh_command(text: str) -> tuple[str, tuple[str, ...]]:
    """(user, options) of NixOS-Compose's ``--ssh 'ssh -l USER [OPTIONS]'``.

    nxc runs OpenSSH itself and adds the host: the command must be ``ssh`` with options only.
    """
    from nxc.cli.connect import check_user_name

    words = _arguments(text, "--ssh")
    example = "e.g. --ssh 'ssh -l root -i ~/.ssh/id_ed25519'"
    if not words or Path(words[0]).name != "ssh":
        raise InputError(
            f"--ssh {text!r}: nxc runs OpenSSH itself; give 'ssh [OPTIONS]', {example}"
        )
    user, options, rest = "root", [], list(words[1:])
    while rest:
        word = rest.pop(0)
        takes_argument = len(word) == 2 and word[0] == "-" and word[1] in SSH_OPTIONS_WITH_ARGUMENT
        if takes_argument and not rest:
            raise InputError(f"--ssh {text!r}: {word} needs a value; {example}")
        if word == "-l" or word.startswith("-l"):
            user = rest.pop(0) if word == "-l" else word[2:]
            continue
        if not word.startswith("-"):
            raise InputError(
                f"--ssh {text!r}: {word!r} is not an option (nxc adds the host); {example}"
            )
        options += [word, rest.pop(0)] if takes_argument else [word]
    return check_user_name(user, "--ssh -l"), tuple(options)


def _repair(name: str) -> None:
    """``nxc start --repair``: relaunch the dead nodes of running deployment ``name``."""
    from nxc.cli.app import settings
    from nxc.deploy import repair_deployment
    from nxc.project import find_project

    store = find_project(settings.envdir).deployments

    def progress(hostname: str, stage: object) -> None:
        typer.echo(f"nxc: {hostname} {'relaunched' if stage == 'launched' else stage}", err=True)

    repaired = repair_deployment(store, name, progress)
    if repaired:
        typer.echo(f"{name}: relaunched {', '.join(repaired)}; every node is alive again")
    else:
        typer.echo(f"{name}: every node is alive; nothing to repair")


def _add(
    plan: Plan, roles_file: Path | None, role_options: list[str], options: dict[str, object]
) -> None:
    """``nxc start --add``: grow running deployment ``plan.deployment_name`` (the flavour's
    options: its timeout, ``--oar`` for a new job; the deployment's own settings otherwise)."""
    from nxc.cli.app import settings
    from nxc.project import find_project
    from nxc.resize import add_nodes
    from nxc.roles import parse_role_options, read_roles_file

    store = find_project(settings.envdir).deployments
    from_file = read_roles_file(roles_file) if roles_file is not None else {}
    flavour = _flavour(plan, options)
    quantities = (from_file, parse_role_options(role_options))
    asked = sum(quantity.count for layer in quantities for quantity in layer.values())
    with _progress(asked or 1) as progress:
        change = add_nodes(
            store, plan.deployment_name, *quantities, flavour=flavour, progress=progress
        )
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in change.phases.items())
    typer.echo(f"{plan.deployment_name}: added {', '.join(change.added)} ({phases})")
    for hostname, why in change.announcement.failed.items():
        typer.echo(f"warning: {hostname} did not get the new hosts list: {why}", err=True)


def _flavour(plan: Plan, options: dict[str, object]) -> Flavour:
    """The plan's flavour made with ``options``, refusing those it does not take."""
    from nxc.flavours import get_flavour

    unknown = {key for key in options if not _takes(plan.flavour, key)}
    if unknown:
        names = sorted(OPTION_NAMES.get(key, key) for key in unknown)
        verb, pronoun = ("does", "it") if len(names) == 1 else ("do", "them")
        raise InputError(
            f"{', '.join(names)} {verb} not apply to the {plan.flavour} flavour; drop {pronoun}"
        )
    return get_flavour(plan.flavour, **options)


def _launch(
    plan: Plan,
    manifest_path: Path,
    options: dict[str, object],
    foreground: bool,
    test_script: bool,
    interactive: bool = False,
    junit_xml: Path | None = None,
) -> None:
    from nxc import manifest as manifest_module
    from nxc.cli.app import settings
    from nxc.deploy import start_deployment, stop_deployment
    from nxc.project import find_project

    project = find_project(settings.envdir)
    store = project.deployments
    flavour = _flavour(plan, options)
    built = manifest_module.load(manifest_path)
    script = None
    if test_script:
        from nxc.driver.session import script_of_composition

        script = script_of_composition(manifest_path, plan.composition)  # before anything boots
    stops_after = test_script or foreground
    try:
        try:
            with _progress(len(plan.nodes)) as progress:
                deployment = start_deployment(store, built, plan, flavour, progress)
        except KeyboardInterrupt as interrupt:
            interrupt.add_note(_what_start_left(store, plan.deployment_name))
            raise
        wait = float(options.get("timeout") or DRIVER_BOOT_TIMEOUT)  # type: ignore[arg-type]
        _use(
            deployment,
            store,
            project.artifact_dir,
            script,
            junit_xml,
            interactive,
            foreground,
            wait,
        )
    except KeyboardInterrupt as interrupt:
        if stops_after and _started_here(store, plan.deployment_name):
            stop_deployment(store, plan.deployment_name)
        record = _ours(store, plan.deployment_name)
        if stops_after and record is not None and record.state is DeploymentState.stopped:
            interrupt.add_note(f"stopped {plan.deployment_name}")
        raise
    finally:
        if stops_after and _started_here(store, plan.deployment_name):
            stop_deployment(store, plan.deployment_name)  # -t and --foreground never leave nodes


def _use(
    deployment: Deployment,
    store: DeploymentStore,
    artifact_dir: Path,
    script: TestScript | None,
    junit_xml: Path | None,
    interactive: bool,
    foreground: bool,
    boot_timeout: float = DRIVER_BOOT_TIMEOUT,
) -> None:
    """What ``nxc start`` does once the nodes are ready: report, run the script, REPL, hold;
    the script's waits for a node default to ``boot_timeout`` (``--timeout`` when given)."""
    from nxc.cli.app import settings
    from nxc.deploy import hold_in_foreground, stop_deployment

    ready = f"{deployment.name}: {len(deployment.nodes)} node(s) ready"
    if deployment.failed_nodes:
        names = ", ".join(node.hostname for node in deployment.failed_nodes)
        ready += f" ({len(deployment.failed_nodes)} did not come up and are left out: {names})"
    if script is not None:
        typer.echo(f"{ready}; running the test script, then stopping them")
    else:
        typer.echo(
            f"{ready} (see 'nxc status {deployment.name}', stop with 'nxc stop {deployment.name}')"
        )
    if script is not None:
        from nxc.driver.session import run_session

        try:
            outcome = run_session(
                deployment,
                store,
                script,
                junit_xml=junit_xml,
                out_dir=artifact_dir / "driver",
                boot_timeout=boot_timeout,
                verbose=settings.verbose > 0,
            )
        finally:
            stop_deployment(store, deployment.name)
        typer.echo(f"stopped {deployment.name}")
        if junit_xml is not None:
            typer.echo(f"JUnit report: {junit_xml}", err=True)
        if outcome is not None and not outcome.passed:
            typer.echo("test script FAILED", err=True)
            raise typer.Exit(1)
    elif interactive:
        from nxc.driver.session import run_session

        run_session(
            deployment,
            store,
            None,
            out_dir=artifact_dir / "driver",
            boot_timeout=boot_timeout,
            verbose=settings.verbose > 0,
        )
        typer.echo(f"{deployment.name} keeps running; stop it with 'nxc stop {deployment.name}'")
    elif foreground:
        from nxc.cli import install_signal_handlers

        typer.echo("staying in the foreground: Ctrl-C stops the nodes")
        install_signal_handlers(force=True)
        with contextlib.suppress(KeyboardInterrupt):
            hold_in_foreground(store, deployment)
        typer.echo(f"stopped {deployment.name}")


def _ours(store: DeploymentStore, name: str) -> Deployment | None:
    """The record of ``name`` if this process wrote it (an earlier start's record is not)."""
    from nxc.deployment import process_identity

    if not store.exists(name):
        return None
    record = store.load(name)
    return record if record.started_by == process_identity() else None


def _started_here(store: DeploymentStore, name: str) -> bool:
    """Whether this process started deployment ``name`` and it may still own live resources."""
    record = _ours(store, name)
    return record is not None and record.is_active


def _what_start_left(store: DeploymentStore, name: str) -> str:
    """For an interrupted start: what was cleaned up, read from the record this process wrote."""
    record = _ours(store, name)
    if record is None:
        return f"nothing of {name} had started"
    if record.is_active:
        return f"{name} may still own resources (record: {record.state}); run 'nxc stop {name}'"
    logs = store.deploy_dir / f"{name}.d" / "logs"
    return f"stopped what {name} had started (record: {record.state}; logs in {logs})"


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[str, object], None]]:
    """Progress on stderr: a live 'booted n/N, ready n/N' display on a terminal (rich,
    imported only here), one plain line per node and stage otherwise (CI logs)."""
    from rich.console import Console

    from nxc.flavours import Stage

    console = Console(stderr=True)
    if not console.is_terminal:
        counts = {Stage.BOOTED: 0, Stage.READY: 0}

        def report(hostname: str, stage: object) -> None:
            if stage in counts:
                counts[stage] += 1  # type: ignore[index]
                typer.echo(f"nxc: {hostname} {stage} ({counts[stage]}/{total})", err=True)  # type: ignore[index]

        yield report
        return

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    display = Progress(
        TextColumn("{task.description:>7}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks = {
        Stage.BOOTED: display.add_task("booted", total=total),
        Stage.READY: display.add_task("ready", total=total),
    }

    def advance(hostname: str, stage: object) -> None:
        task = tasks.get(stage)  # type: ignore[call-overload]
        if task is not None:
            display.advance(task)

    with display:
        yield advance
