"""``nxc driver``: run a NixOS-style test script on a started deployment, or open a REPL.

``nxc driver -t`` runs the composition's test script from the build manifest,
``nxc driver FILE`` (or ``--test-script FILE``) a script file, and ``nxc driver`` alone opens a
Python prompt holding the machines and the other test-script symbols.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nxc.errors import InputError


def register(app: typer.Typer) -> None:
    """Add the ``driver`` command to ``app``."""
    app.command("driver")(driver)


def driver(
    script: Annotated[
        Path | None,
        typer.Argument(help="Test script file to run.", show_default=False),
    ] = None,
    test_script: Annotated[
        Path | None,
        typer.Option(
            "--test-script", metavar="FILE", help="Test script file to run.", show_default=False
        ),
    ] = None,
    from_manifest: Annotated[
        bool,
        typer.Option("-t", "--test", help="Run the composition's test script from the build."),
    ] = False,
    deployment_name: Annotated[
        str | None,
        typer.Option(
            "--deployment",
            "-n",
            metavar="COMPOSITION::FLAVOUR[::TAG]",
            help="Deployment to drive (default: the latest one started).",
            show_default=False,
        ),
    ] = None,
    junit_xml: Annotated[
        Path | None,
        typer.Option("--junit-xml", metavar="PATH", help="Write a JUnit XML report there."),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            "-o",
            help="Where copy_from_machine puts files (default: artifact/driver).",
            show_default=False,
        ),
    ] = None,
    boot_timeout: Annotated[
        float,
        typer.Option(help="Seconds a node may take to answer after a (re)start."),
    ] = 900.0,
) -> None:
    """Run a test script against the running nodes, or open a REPL.

    The exit code is 1 when the script fails.
    """
    from nxc.cli.app import settings
    from nxc.driver.session import run_session, script_from_file, script_from_manifest
    from nxc.project import find_project

    given = [
        label
        for label, value in (
            ("FILE", script),
            ("--test-script", test_script),
            ("-t", from_manifest),
        )
        if value
    ]
    if len(given) > 1:
        raise InputError(f"nxc driver: give only one of {', '.join(given)}")
    if junit_xml is not None and not given:
        raise InputError("nxc driver: --junit-xml needs a test script (FILE, --test-script or -t)")
    if boot_timeout <= 0:
        raise InputError(f"--boot-timeout {boot_timeout:g}: must be a positive number of seconds")
    project = find_project(settings.envdir)
    store = project.deployments
    deployment = store.load(deployment_name) if deployment_name else store.latest()
    file = script or test_script
    if file is not None:
        chosen = script_from_file(file)
    elif from_manifest:
        chosen = script_from_manifest(deployment)
    else:
        chosen = None
    outcome = run_session(
        deployment,
        store,
        chosen,
        junit_xml=junit_xml,
        out_dir=out_dir or project.artifact_dir / "driver",
        boot_timeout=boot_timeout,
        verbose=settings.verbose > 0,
    )
    if outcome is None:
        return
    verdict = "passed" if outcome.passed else "FAILED"
    typer.echo(f"test script {verdict} in {outcome.duration:.2f} s", err=True)
    if junit_xml is not None:
        typer.echo(f"JUnit report: {junit_xml}", err=True)
    if not outcome.passed:
        raise typer.Exit(1)
