"""What ``nxc start`` is asked, as one typed value, and the flavour options it comes to.

:class:`StartRequest` holds every option of ``nxc start`` as given (``None``: not given);
:func:`check_request` refuses combinations that cannot work; :func:`flavour_keywords` turns the
flavour-specific ones into the keyword options of the chosen flavour (its
:class:`~nxc.flavours.options.FlavourOptions`), refusing those that flavour does not take.
:mod:`nxc.start_sequence` carries a request out.

Messages name options by their library names (``{test_script}``...): the CLI shows its flags
(:data:`nxc.cli.flags.FLAGS`).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from nxc.errors import InputError
from nxc.flavours import registry

VM_FLAVOURS = registry.taking("qemu")
"""Flavours booting QEMU VMs here, all taking the vm options (from the flavour table)."""

HOST_FLAVOURS = registry.taking("hosts")
"""Flavours deploying on physical hosts (from the flavour table): the Grid'5000 flavours."""

GRID5000_FLAVOURS = "the Grid'5000 flavours"

ENVIRONMENT_ALIASES = {"MEM": "memory", "QEMU_OPTS": "qemu_options"}
"""NixOS-Compose's environment variables for VMs → the vm option they stand for."""


class AfterStart(StrEnum):
    """What ``nxc start`` does once every node is ready."""

    RETURN = "return"
    TEST_SCRIPT = "test_script"
    INTERACTIVE = "interactive"
    FOREGROUND = "foreground"


@dataclass(frozen=True)
class VmRequest:
    """The vm flavours' options, as given (None: not given)."""

    accel: str | None = None
    memory: str | None = None
    cpus: int | None = None
    forwards: tuple[str, ...] = ()
    disk_size: str | None = None
    qemu_options: str | None = None
    """QEMU's own arguments, one shell-quoted string."""

    def given(self) -> dict[str, object]:
        """The vm options given, as the flavour's keywords."""
        values: dict[str, object] = {
            "accel": self.accel,
            "memory": self.memory,
            "cpus": self.cpus,
            "forwards": list(self.forwards) or None,
            "disk_size": self.disk_size,
        }
        if self.qemu_options is not None:
            values["qemu_options"] = shell_words(self.qemu_options, "qemu_options")
        return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class HostRequest:
    """Where Grid'5000 hosts come from and how to reach them, as given (None: not given)."""

    oar_request: str | None = None
    oar_jobs: tuple[str, ...] = ()
    """``ID`` (the job's hosts) or ``SITE:ID`` (a job of that site, for roles placed there)."""
    oar_types: tuple[str, ...] = ()
    oar_properties: str | None = None
    machine_file: Path | None = None
    wait_for_file: bool = False
    site: str | None = None
    ssh: str | None = None
    ssh_config: Path | None = None
    retries: int | None = None
    nfs_server: str | None = None
    max_concurrency: int | None = None

    def given(self) -> list[str]:
        """The names of the options given."""
        values = {
            "oar_request": self.oar_request,
            "oar_job": self.oar_jobs or None,
            "oar_types": self.oar_types or None,
            "oar_properties": self.oar_properties,
            "machine_file": self.machine_file,
            "wait_for_file": self.wait_for_file or None,
            "site": self.site,
            "ssh": self.ssh,
            "ssh_config": self.ssh_config,
            "retries": self.retries,
            "nfs_server": self.nfs_server,
            "max_concurrency": self.max_concurrency,
        }
        return [name for name, value in values.items() if value is not None]


@dataclass(frozen=True)
class StartRequest:
    """Every option of one ``nxc start``, as given."""

    roles_file: Path | None = None
    roles: tuple[str, ...] = ()
    """``ROLE=N`` / ``ROLE=HOST,...`` options, over the roles file."""
    flavour: str | None = None
    composition: str | None = None
    tag: str | None = None
    parameters: tuple[str, ...] = ()
    """``KEY=VALUE`` deployment parameters."""
    min_nodes: str | None = None
    manifest: Path | None = None
    """The build manifest (default: the project's latest build of the flavour)."""
    dry_run: bool = False
    after: AfterStart = AfterStart.RETURN
    junit_xml: Path | None = None
    add: bool = False
    repair: bool = False
    vm: VmRequest = field(default_factory=VmRequest)
    hosts: HostRequest = field(default_factory=HostRequest)
    kernel_params: tuple[str, ...] = ()
    setup_variant: str | None = None
    timeout: float | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    """The environment the aliases ``MEM`` and ``QEMU_OPTS`` are read from."""
    project_dir: Path | None = None
    """Where the project is looked for (default: the current folder and up)."""
    verbose: bool = False
    """The test driver logs at debug level."""


def after_start(test_script: bool, interactive: bool, foreground: bool) -> AfterStart:
    """The one thing to do once the nodes are ready; :class:`InputError` if several are asked."""
    if test_script and foreground:
        raise InputError.naming(
            "give {test_script} or {foreground}, not both", "test_script", "foreground"
        )
    if interactive and (test_script or foreground):
        raise InputError.naming(
            "give {interactive} alone, not with {test_script} or {foreground}",
            "interactive",
            "test_script",
            "foreground",
        )
    if test_script:
        return AfterStart.TEST_SCRIPT
    if interactive:
        return AfterStart.INTERACTIVE
    return AfterStart.FOREGROUND if foreground else AfterStart.RETURN


def check_request(request: StartRequest) -> None:
    """Refuse, before anything is read or started, options that do not go together."""
    if request.dry_run and request.manifest is None:
        raise InputError.naming(
            "{dry_run} needs {manifest} PATH (the build manifest to plan from)",
            "dry_run",
            "manifest",
        )
    if request.junit_xml is not None and request.after is not AfterStart.TEST_SCRIPT:
        raise InputError.naming(
            "{junit_xml} reports on the test script: add {test_script}", "junit_xml", "test_script"
        )
    if request.repair and request.after is not AfterStart.RETURN:
        raise InputError.naming(
            "{repair} relaunches the dead nodes of a running deployment and returns; run the "
            "test script on it with 'nxc driver -t'",
            "repair",
        )
    if request.add and (request.repair or request.after is not AfterStart.RETURN):
        raise InputError.naming(
            "{add} grows a running deployment and returns; give it alone (run the test "
            "script with 'nxc driver -t')",
            "add",
        )
    if request.timeout is not None and not (math.isfinite(request.timeout) and request.timeout > 0):
        raise InputError.naming(
            f"{{timeout}} {request.timeout:g}: must be a positive number of seconds", "timeout"
        )


def split_composition(
    composition: str | None, flavour: str | None
) -> tuple[str | None, str | None]:
    """``COMPOSITION::FLAVOUR`` (NixOS-Compose's form of the composition) split; the flavour
    option must agree with it."""
    if composition is None or "::" not in composition:
        return composition, flavour
    name, _, named_flavour = composition.partition("::")
    if not name or not named_flavour or "::" in named_flavour:
        raise InputError.naming(
            f"{{composition}} {composition!r}: expected COMPOSITION::FLAVOUR, e.g. composition::vm",
            "composition",
        )
    if flavour is not None and flavour != named_flavour:
        raise InputError.naming(
            f"{{composition}} {composition} and {{flavour}} {flavour} disagree; give only one "
            "of them",
            "composition",
            "flavour",
        )
    return name, named_flavour


def flavour_keywords(
    request: StartRequest,
    flavour: str,
    setup_kernel_params: tuple[str, ...] = (),
    ignored: Callable[[str], None] = lambda note: None,
) -> dict[str, Any]:
    """The keyword options of ``flavour`` from ``request``; :class:`InputError` for an option
    the flavour does not take. ``setup_kernel_params``: setup.toml's, used without
    ``kernel_params``. ``ignored`` hears of options set outside the command line that do not
    apply to the flavour (``MEM`` for docker...), as NixOS-Compose ignored them (a note with
    ``{option}`` fields)."""
    keywords = _vm_keywords(request, flavour, ignored)
    keywords |= _kernel_keywords(request, flavour, setup_kernel_params, ignored)
    keywords |= _host_keywords(request.hosts, flavour)
    if request.timeout is not None:
        keywords["timeout"] = request.timeout
    return keywords


def applies_only(options: list[str], where: str) -> str:
    """'{oar_request} applies only to ...' / '{site}, {ssh} apply only to ...' (a template)."""
    verb = "applies" if len(options) == 1 else "apply"
    return f"{', '.join('{' + name + '}' for name in options)} {verb} only to {where}"


def _vm_keywords(
    request: StartRequest, flavour: str, ignored: Callable[[str], None]
) -> dict[str, object]:
    given = request.vm.given()
    if flavour not in VM_FLAVOURS:
        if given:
            raise InputError.naming(
                f"{applies_only(list(given), 'the vm flavour')}, not {flavour}; "
                f"drop {'it' if len(given) == 1 else 'them'}",
                *given,
            )
        found = [name for name in ENVIRONMENT_ALIASES if request.environment.get(name)]
        if found:
            ignored(f"{', '.join(found)} ignored: for the vm flavours only")
        return {}
    for name, key in ENVIRONMENT_ALIASES.items():
        value = request.environment.get(name)
        if not value:
            continue
        if key in given:
            ignored(f"{name} ignored: {{{key}}} given")
        elif key == "memory":
            from nxc.flavours.vm.qemu import parse_memory

            try:
                parse_memory(value)
            except InputError as error:
                inner = error.template or str(error)
                raise InputError.naming(
                    f"MEM={value!r} (the alias of {{memory}}): {inner}", "memory", *error.options
                ) from None
            given[key] = value
        else:
            given[key] = shell_words(value, name)
    return given


def _kernel_keywords(
    request: StartRequest,
    flavour: str,
    setup_params: tuple[str, ...],
    ignored: Callable[[str], None],
) -> dict[str, object]:
    """``kernel_params``: the request's, else setup.toml's; refused for a flavour without a
    kernel of its own (docker), where setup.toml's are ignored."""
    from nxc.setup_options import split_kernel_params

    try:
        params = tuple(
            word for text in request.kernel_params for word in split_kernel_params(text, "")
        )
    except InputError as error:
        raise InputError.naming(f"{{kernel_params}}{error}", "kernel_params") from None
    if not request.kernel_params:
        params = setup_params
    if not params:
        return {}
    if not registry.takes(flavour, "kernel_params"):
        if request.kernel_params:
            raise InputError.naming(
                f"{{kernel_params}}: the {flavour} flavour boots no kernel of its own "
                "(containers share this machine's); drop it",
                "kernel_params",
            )
        ignored(f"setup.toml kernel-params ignored: {flavour} boots no kernel")
        return {}
    return {"kernel_params": params}


def _host_keywords(chosen: HostRequest, flavour: str) -> dict[str, object]:
    """The Grid'5000 flavours' options: where the hosts come from, how to reach them."""
    given = chosen.given()
    if flavour not in HOST_FLAVOURS:
        if given:
            raise InputError.naming(
                f"{applies_only(given, GRID5000_FLAVOURS)} "
                f"({', '.join(HOST_FLAVOURS)}), not {flavour}; "
                f"drop {'it' if len(given) == 1 else 'them'}",
                *given,
            )
        return {}
    options: dict[str, object] = {"hosts": _host_source(chosen, flavour)}
    if chosen.ssh is not None:
        options["host_user"], options["host_ssh_options"] = ssh_command(chosen.ssh)
    if chosen.ssh_config is not None:
        options["ssh_config"] = chosen.ssh_config
    if chosen.retries is not None:
        if chosen.retries < 0:
            raise InputError.naming(f"{{retries}} {chosen.retries} must be 0 or more", "retries")
        options["retries"] = chosen.retries
    if chosen.max_concurrency is not None:
        if chosen.max_concurrency < 1:
            raise InputError.naming(
                f"{{max_concurrency}} {chosen.max_concurrency} must be 1 or more",
                "max_concurrency",
            )
        options["max_concurrency"] = chosen.max_concurrency
    if chosen.nfs_server is not None:
        if not registry.takes(flavour, "nfs_server"):
            takers = ", ".join(registry.taking("nfs_server"))
            raise InputError.naming(
                f"{{nfs_server}} is for {takers}, not {flavour}; drop it", "nfs_server"
            )
        if not chosen.nfs_server.strip() or any(c.isspace() for c in chosen.nfs_server):
            raise InputError.naming(
                f"{{nfs_server}} {chosen.nfs_server!r} is not a host address", "nfs_server"
            )
        options["nfs_server"] = chosen.nfs_server
    return options


def _host_source(chosen: HostRequest, flavour: str) -> object:
    from nxc.flavours.g5k.hosts import HostSource
    from nxc.platforms.oar import Frontend, OarRequest, job_id_from_environment
    from nxc.transport import sshconfig

    if chosen.oar_request is None and (chosen.oar_types or chosen.oar_properties is not None):
        raise InputError.naming(
            "{oar_types} and {oar_properties} shape a new reservation: add {oar_request}",
            "oar_types",
            "oar_properties",
            "oar_request",
        )
    if chosen.ssh_config is not None and not chosen.ssh_config.is_file():
        raise InputError.naming(f"{{ssh_config}} {chosen.ssh_config}: no such file", "ssh_config")
    config = sshconfig.config_file(chosen.ssh_config)
    frontend = Frontend(host=chosen.site, ssh_options=tuple(sshconfig.openssh_options(config)))
    job, site_jobs = _oar_jobs(chosen.oar_jobs)
    request = None
    if chosen.oar_request is not None:
        request = OarRequest(
            chosen.oar_request,
            job_types=chosen.oar_types or ("deploy",),
            properties=chosen.oar_properties,
        )
    source = HostSource(
        oar_request=request,
        oar_job=job,
        machine_file=chosen.machine_file,
        wait_for_file=chosen.wait_for_file,
        frontend=frontend,
        site_jobs=site_jobs,
    )
    no_hosts = request is None and job is None and chosen.machine_file is None and not site_jobs
    if no_hosts and job_id_from_environment() is None:
        raise InputError.naming(
            f"{{flavour}} {flavour}: no hosts given; reserve some with {{oar_request}} "
            "'nodes=N,walltime=H:MM', use a job with {oar_job} ID, or list hosts in a file "
            "with {machine_file} FILE",
            "flavour",
            "oar_request",
            "oar_job",
            "machine_file",
        )
    return source


_SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""A Grid'5000 site name, as ``-r ROLE=site:NAME:N`` accepts it."""


def _oar_jobs(values: tuple[str, ...]) -> tuple[int | None, tuple[tuple[str, int], ...]]:
    """The job of ``ID`` (at most one) and the ``SITE:ID`` jobs (one per site)."""
    plain: list[int] = []
    by_site: dict[str, int] = {}
    for value in values:
        site, _, number = value.rpartition(":")
        if not number.isdigit() or (":" in value and not _SITE_NAME.fullmatch(site)):
            raise InputError.naming(
                f"{{oar_job}} {value!r} is not a job: give its number, or SITE:NUMBER for a "
                "site's job, e.g. 1234 or nancy:1234",
                "oar_job",
            )
        if not site:
            plain.append(int(number))
        elif site in by_site:
            raise InputError.naming(f"{{oar_job}}: two jobs for site {site}; give one", "oar_job")
        else:
            by_site[site] = int(number)
    if len(plain) > 1:
        raise InputError.naming(
            "{oar_job}: give one job without a site (SITE:ID for the jobs of sites)", "oar_job"
        )
    return (plain[0] if plain else None), tuple(by_site.items())


SSH_OPTIONS_WITH_ARGUMENT = "BbcDEeFIiJLlmOoPpQRSWw"
"""OpenSSH client options taking an argument (ssh(1) synopsis)."""


def ssh_command(text: str) -> tuple[str, tuple[str, ...]]:
    """(user, options) of NixOS-Compose's ``--ssh 'ssh -l USER [OPTIONS]'``.

    nxc runs OpenSSH itself and adds the host: the command must be ``ssh`` with options only.
    """
    from nxc.transport.sshconfig import check_user_name

    words = shell_words(text, "ssh")
    example = "e.g. 'ssh -l root -i ~/.ssh/id_ed25519'"
    if not words or Path(words[0]).name != "ssh":
        raise InputError.naming(
            f"{{ssh}} {text!r}: nxc runs OpenSSH itself; give 'ssh [OPTIONS]', {example}", "ssh"
        )
    user, options, rest = "root", [], list(words[1:])
    while rest:
        word = rest.pop(0)
        takes_argument = len(word) == 2 and word[0] == "-" and word[1] in SSH_OPTIONS_WITH_ARGUMENT
        if takes_argument and not rest:
            raise InputError.naming(f"{{ssh}} {text!r}: {word} needs a value; {example}", "ssh")
        if word == "-l" or word.startswith("-l"):
            user = rest.pop(0) if word == "-l" else word[2:]
            continue
        if not word.startswith("-"):
            raise InputError.naming(
                f"{{ssh}} {text!r}: {word!r} is not an option (nxc adds the host); {example}",
                "ssh",
            )
        options += [word, rest.pop(0)] if takes_argument else [word]
    return check_user_name(user, "ssh -l"), tuple(options)


def shell_words(text: str, option: str) -> tuple[str, ...]:
    """``text`` split as a shell would; :class:`InputError` naming ``option`` if it can't be."""
    try:
        return tuple(shlex.split(text))
    except ValueError as error:
        raise InputError.naming(
            f"{{{option}}} {text!r}: {error}; quote it as a shell would", option
        ) from None
