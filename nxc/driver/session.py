"""One driver session on a started deployment: run a test script, or open the REPL.

This is what ``nxc driver`` and ``nxc start -t/-I`` call; it opens the flavour's transport,
builds the machines, runs, writes the JUnit report, and closes everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nxc.driver.driver import ScriptOutcome
from nxc.driver.logger import DriverLogger, LogLevel
from nxc.errors import DeploymentRecordError, InputError, ManifestError, NxcError

if TYPE_CHECKING:
    from nxc.deployment import Deployment, DeploymentStore
    from nxc.flavours.base import Flavour
    from nxc.manifest import Manifest

DEFAULT_BOOT_TIMEOUT = 900.0
"""How long the script's waits for a node last by default, in seconds (as the NixOS test
driver's waits)."""


@dataclass(frozen=True)
class TestScript:
    """A test script's text and the name its traceback lines show."""

    __test__ = False  # not a pytest test class despite the name

    source: str
    name: str


def script_from_file(path: Path) -> TestScript:
    """Read a test script file; :class:`InputError` naming it if it cannot be read."""
    try:
        return TestScript(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise InputError(f"test script {path}: cannot read it ({reason}); fix the path") from None


def script_from_manifest(deployment: Deployment) -> TestScript:
    """The composition's test script from the build manifest the deployment was started from."""
    if not deployment.manifest:
        raise ManifestError(
            f"deployment {deployment.name} does not record its build manifest; give the test "
            "script as a file: nxc driver FILE"
        )
    return script_of_composition(Path(deployment.manifest), deployment.composition)


def script_of_composition(manifest_path: Path, composition_name: str) -> TestScript:
    """The test script of ``composition_name`` in the build manifest at ``manifest_path``."""
    from nxc import manifest

    return script_of_manifest(manifest.load(manifest_path), composition_name)


def script_of_manifest(built: Manifest, composition_name: str) -> TestScript:
    """The test script of ``composition_name`` in the loaded build manifest ``built``."""
    composition = built.composition(composition_name)
    if not composition.test_script:
        raise ManifestError(
            f"composition '{composition.name}' has no testScript in {built.source}; add "
            "one to the composition and rebuild, or give a file: nxc driver FILE"
        )
    return TestScript(composition.test_script, f"<testScript of {composition.name}>")


def run_session(
    deployment: Deployment,
    store: DeploymentStore,
    script: TestScript | None,
    *,
    junit_xml: Path | None = None,
    out_dir: Path | None = None,
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT,
    verbose: bool = False,
) -> ScriptOutcome | None:
    """Run ``script`` on the deployment's nodes (``None``: open the REPL instead)."""
    from nxc.driver.console import ConsoleFollower
    from nxc.driver.deployment_backend import open_driver, record_keys
    from nxc.driver.junit import write_junit_xml
    from nxc.driver.repl import run_repl
    from nxc.flavours import get_flavour

    if not deployment.is_active:
        raise InputError(
            f"deployment {deployment.name} is {deployment.state}, not running; start it with "
            "'nxc start' first"
        )
    logger = DriverLogger(level=LogLevel.DEBUG if verbose else LogLevel.INFO)
    flavour = get_flavour(deployment.flavour)
    with record_keys(deployment, store):
        transport = flavour.transport(deployment, store)
    with transport:
        driver = open_driver(
            deployment,
            store,
            flavour,
            transport,
            logger,
            out_dir=out_dir,
            boot_timeout=boot_timeout,
        )
        if script is None:
            run_repl(driver.test_symbols())
            return None
        with record_keys(deployment, store):
            console_logs = _console_logs(flavour, deployment)
        with ConsoleFollower(console_logs, logger):
            outcome = driver.run_script(script.source, script.name)
    if junit_xml is not None:
        write_junit_xml(junit_xml, deployment.name, logger, outcome)
    return outcome


def _console_logs(flavour: Flavour, deployment: Deployment) -> dict[str, Path]:
    """Each node's console log file, for the flavours that keep one (and can give it now); a
    record that should name it and does not is an error, not a node without a console."""
    logs = {}
    for node in deployment.nodes:
        try:
            logs[node.hostname] = flavour.console_log(deployment, node.hostname)
        except DeploymentRecordError:
            raise
        except NxcError:
            continue
    return logs
