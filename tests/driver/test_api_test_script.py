"""``Environment.run_test_script``: ``nxc driver -t`` from Python, on namespace hosts running
real sshd (the namespace flavour, registered for the test)."""

from __future__ import annotations

from pathlib import Path

import nxc
from tests.driver.conftest import NamespaceDeployment


def test_a_test_script_runs_from_python_with_its_outcome_and_report(
    ns_deployment: NamespaceDeployment, ns_flavour: object, registered_flavour: None, tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        'assert node_1.succeed("hostname").strip() == "node-1"\nnode_2.fail("false")\n'
    )
    report = tmp_path / "report.xml"
    with nxc.open_deployment(project=ns_deployment.project) as env:
        outcome = env.run_test_script(script, junit_xml=report)
        assert outcome.passed, outcome.error_message
        assert "<testsuite" in report.read_text()
        script.write_text('node_1.succeed("false")\n')
        failed = env.run_test_script(script)
        assert not failed.passed and failed.error_type == "RequestedAssertionFailed"
