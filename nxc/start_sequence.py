"""One ``nxc start`` carried out: plan, start, then what was asked, and stop when it must.

:func:`carry_out` takes a :class:`~nxc.start_request.StartRequest` and does everything the
command does; it reports through a :class:`StartReporter` (the CLI's prints) and returns a
:class:`StartOutcome`. The sequence:

1. the request checked, the build manifest found and read (once), the nodes planned
   (``dry_run``: reported, nothing started or written);
2. ``repair``: the dead nodes relaunched; ``add``: the running deployment grown; done;
3. the flavour made from the request's options (:func:`~nxc.start_request.flavour_keywords`),
   the test script read before anything boots, the deployment started;
4. then, by :class:`~nxc.start_request.AfterStart`: return (the nodes keep running), run the
   test script, open the REPL, or hold in the foreground;
5. with a test script or in the foreground, the deployment is stopped at the end — also when
   the script fails, the start fails or the user interrupts — and only if this process
   started it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from nxc.deployment import DeploymentState, process_identity
from nxc.errors import ManifestError, ProjectError
from nxc.start_request import AfterStart, StartRequest, check_request, flavour_keywords

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore
    from nxc.driver.session import TestScript
    from nxc.flavours.base import Flavour, ProgressHook
    from nxc.manifest import Manifest
    from nxc.plan import Plan
    from nxc.project import Project
    from nxc.resize import Resize


class StartReporter(Protocol):
    """What :func:`carry_out` tells its caller as it goes (the CLI prints it)."""

    def ignored(self, note: str) -> None:
        """An option set outside the command line does not apply (``{option}`` fields)."""

    def planned(self, plan: Plan, after: AfterStart) -> None:
        """A dry run's plan."""

    def progress(self, total: int) -> AbstractContextManager[ProgressHook]:
        """A progress display over ``total`` nodes, as the hook the flavour calls."""
        ...

    def relaunched(self, hostname: str) -> None:
        """``repair``: one dead node was relaunched."""

    def repaired(self, name: str, hostnames: list[str]) -> None:
        """``repair`` is done (``hostnames`` empty: every node was alive)."""

    def added(self, name: str, change: Resize) -> None:
        """``add`` is done."""

    def ready(self, deployment: Deployment, after: AfterStart) -> None:
        """Every node is ready; ``after`` says what comes next."""

    def holding(self) -> None:
        """In the foreground now, until Ctrl-C (the CLI makes Ctrl-C reach it)."""

    def stopped(self, name: str) -> None:
        """The deployment was stopped at the end (test script, foreground)."""

    def kept(self, name: str) -> None:
        """The REPL ended; the deployment keeps running."""


@dataclass(frozen=True)
class StartOutcome:
    """What one ``nxc start`` came to."""

    name: str
    """The deployment's name."""
    script_passed: bool | None = None
    """With a test script: whether it passed; None otherwise."""
    junit_xml: Path | None = None
    """The JUnit report written, if one was asked for."""


def carry_out(request: StartRequest, reporter: StartReporter) -> StartOutcome:
    """Do what ``request`` asks (see the module's steps); reports through ``reporter``."""
    from nxc.deploy import built_manifest
    from nxc.flavours.names import FLAVOUR_NAMES, unknown_flavour_message
    from nxc.manifest import load
    from nxc.project import find_project
    from nxc.start_request import split_composition

    check_request(request)
    composition, flavour = split_composition(request.composition, request.flavour)
    if flavour is not None and flavour not in FLAVOUR_NAMES:
        raise ProjectError.naming(unknown_flavour_message(flavour, "{flavour}"), "flavour")
    manifest_path = request.manifest
    project = None
    if manifest_path is None:
        project = find_project(request.project_dir)
        chosen = flavour or project.default_flavour
        _check_deployable(chosen)
        manifest_path = built_manifest(project.build_dir, chosen, composition)
    elif flavour is not None:
        _check_deployable(flavour)
    built = load(manifest_path)
    if flavour is not None and flavour != built.flavour:
        raise ManifestError.naming(
            f"{manifest_path}: built for flavour {built.flavour}, not {flavour}; "
            f"build it with 'nxc build -f {flavour}' or drop {{flavour}}",
            "flavour",
        )
    _check_deployable(built.flavour)
    plan = _plan(request, built, composition)
    if request.dry_run:
        reporter.planned(plan, request.after)
        return StartOutcome(plan.deployment_name)
    if request.repair:
        project = project or find_project(request.project_dir)
        return _repair(project.deployments, plan.deployment_name, reporter)
    chosen_flavour = _make_flavour(request, plan.flavour, project, reporter)
    project = project or find_project(request.project_dir)
    if request.add:
        return _add(request, project.deployments, plan, chosen_flavour, reporter)
    return _launch(request, project, built, plan, chosen_flavour, reporter)


def _check_deployable(flavour: str | None) -> None:
    from nxc.build import check_deployable

    check_deployable(flavour)


def _plan(request: StartRequest, built: Manifest, composition: str | None) -> Plan:
    from nxc.plan import check_tag, parse_parameters, plan_nodes
    from nxc.roles import parse_role_options, read_roles_file

    if request.tag is not None:
        check_tag(request.tag)
    options = parse_role_options(list(request.roles))
    parameters = parse_parameters(list(request.parameters))
    from_file = read_roles_file(request.roles_file) if request.roles_file is not None else {}
    return plan_nodes(
        built,
        composition,
        from_file,
        options,
        tag=request.tag,
        parameters=parameters,
        min_nodes=request.min_nodes,
    )


def _make_flavour(
    request: StartRequest, flavour: str, project: Project | None, reporter: StartReporter
) -> Flavour:
    """The flavour configured from the request (setup.toml's kernel parameters by default)."""
    from nxc.flavours import get_flavour

    keywords = flavour_keywords(
        request, flavour, _setup_kernel_params(request, project), reporter.ignored
    )
    return get_flavour(flavour, **keywords)


def _setup_kernel_params(request: StartRequest, project: Project | None) -> tuple[str, ...]:
    """setup.toml's ``kernel-params`` (of the chosen variant), none without a project."""
    from nxc.errors import ProjectError
    from nxc.project import find_project
    from nxc.setup_options import read_setup_options

    if request.kernel_params:
        return ()
    try:
        root = (project or find_project(request.project_dir)).root
    except ProjectError:
        if request.setup_variant is not None:
            raise
        return ()
    return read_setup_options(root, request.setup_variant).kernel_params or ()


def _repair(store: DeploymentStore, name: str, reporter: StartReporter) -> StartOutcome:
    from nxc.deploy import repair_deployment

    def progress(hostname: str, stage: object) -> None:
        if stage == "launched":
            reporter.relaunched(hostname)

    reporter.repaired(name, repair_deployment(store, name, progress))
    return StartOutcome(name)


def _add(
    request: StartRequest,
    store: DeploymentStore,
    plan: Plan,
    flavour: Flavour,
    reporter: StartReporter,
) -> StartOutcome:
    """Grow the running deployment by the request's roles (the flavour's options: its timeout,
    a new OAR job; the deployment's own settings otherwise)."""
    from nxc.resize import add_nodes
    from nxc.roles import parse_role_options, read_roles_file

    from_file = read_roles_file(request.roles_file) if request.roles_file is not None else {}
    quantities = (from_file, parse_role_options(list(request.roles)))
    asked = sum(quantity.count for layer in quantities for quantity in layer.values())
    with reporter.progress(asked or 1) as progress:
        change = add_nodes(
            store, plan.deployment_name, *quantities, flavour=flavour, progress=progress
        )
    reporter.added(plan.deployment_name, change)
    return StartOutcome(plan.deployment_name)


def _launch(
    request: StartRequest,
    project: Project,
    built: Manifest,
    plan: Plan,
    flavour: Flavour,
    reporter: StartReporter,
) -> StartOutcome:
    from nxc.deploy import start_deployment, stop_deployment

    store = project.deployments
    name = plan.deployment_name
    script = None
    if request.after is AfterStart.TEST_SCRIPT:
        from nxc.driver.session import script_of_manifest

        script = script_of_manifest(built, plan.composition)  # before anything boots
    stops_after = request.after in (AfterStart.TEST_SCRIPT, AfterStart.FOREGROUND)
    try:
        try:
            with reporter.progress(len(plan.nodes)) as progress:
                deployment = start_deployment(store, built, plan, flavour, progress)
        except KeyboardInterrupt as interrupt:
            interrupt.add_note(_what_start_left(store, name))
            raise
        reporter.ready(deployment, request.after)
        if request.after is AfterStart.FOREGROUND:
            return _hold(store, deployment, reporter)
        return _after_start(request, project, deployment, script, reporter)
    except KeyboardInterrupt as interrupt:
        if stops_after and _started_here(store, name):
            stop_deployment(store, name)
        record = _ours(store, name)
        if stops_after and record is not None and record.state is DeploymentState.stopped:
            interrupt.add_note(f"stopped {name}")
        raise
    finally:
        if stops_after and _started_here(store, name):
            stop_deployment(store, name)  # a test script and the foreground never leave nodes


def _after_start(
    request: StartRequest,
    project: Project,
    deployment: Deployment,
    script: TestScript | None,
    reporter: StartReporter,
) -> StartOutcome:
    """Run the test script or open the REPL, as asked; the script's waits for a node last the
    request's ``timeout`` (the driver's default otherwise)."""
    from nxc.deploy import stop_deployment
    from nxc.driver.session import DEFAULT_BOOT_TIMEOUT, run_session

    store = project.deployments
    boot_timeout = request.timeout or DEFAULT_BOOT_TIMEOUT
    out_dir = project.artifact_dir / "driver"
    if request.after is AfterStart.TEST_SCRIPT and script is not None:
        try:
            outcome = run_session(
                deployment,
                store,
                script,
                junit_xml=request.junit_xml,
                out_dir=out_dir,
                boot_timeout=boot_timeout,
                verbose=request.verbose,
            )
        finally:
            stop_deployment(store, deployment.name)
        reporter.stopped(deployment.name)
        passed = outcome is None or outcome.passed
        return StartOutcome(deployment.name, passed, request.junit_xml)
    if request.after is AfterStart.INTERACTIVE:
        run_session(
            deployment,
            store,
            None,
            out_dir=out_dir,
            boot_timeout=boot_timeout,
            verbose=request.verbose,
        )
        reporter.kept(deployment.name)
    return StartOutcome(deployment.name)


def _hold(store: DeploymentStore, deployment: Deployment, reporter: StartReporter) -> StartOutcome:
    """In the foreground until Ctrl-C (from the moment the nodes are ready: a Ctrl-C before
    the hold began stops them the same way) or every node is dead; then stopped."""
    from nxc.deploy import hold_in_foreground, stop_deployment

    with suppress(KeyboardInterrupt):
        reporter.holding()
        hold_in_foreground(store, deployment)
    if _started_here(store, deployment.name):
        stop_deployment(store, deployment.name)
    reporter.stopped(deployment.name)
    return StartOutcome(deployment.name)


def _ours(store: DeploymentStore, name: str) -> Deployment | None:
    """The record of ``name`` if this process wrote it (an earlier start's record is not)."""
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
