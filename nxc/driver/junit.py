"""JUnit XML report of a test-script run, for CI systems.

One ``<testcase>`` per subtest (its own output in ``<system-out>``, a ``<failure>`` with the
trimmed traceback when it failed), plus one named after the script when the script has no
subtests or failed outside them.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from nxc.driver.driver import ScriptOutcome
from nxc.driver.logger import DriverLogger, SubtestRecord


def write_junit_xml(
    path: Path, suite_name: str, logger: DriverLogger, outcome: ScriptOutcome
) -> None:
    """Write the report to ``path`` atomically."""
    cases = [_case(suite_name, record) for record in logger.subtests]
    failed_inside = any(record.failed for record in logger.subtests)
    if not cases or (not outcome.passed and not failed_inside):
        cases.append(_script_case(suite_name, logger, outcome))
    failures = sum(1 for case in cases if case.find("failure") is not None)
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{outcome.duration:.3f}",
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    suite.extend(cases)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(failures))
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as temp:
        ET.ElementTree(root).write(temp, encoding="utf-8", xml_declaration=True)
    os.replace(temp.name, path)


def _case(suite_name: str, record: SubtestRecord) -> ET.Element:
    case = ET.Element(
        "testcase", name=record.name, classname=suite_name, time=f"{record.duration:.3f}"
    )
    if record.failed:
        failure = ET.SubElement(
            case,
            "failure",
            message=record.failure_message or "",
            type=record.failure_type or "Error",
        )
        failure.text = record.failure_detail
    ET.SubElement(case, "system-out").text = "\n".join(record.output)
    return case


def _script_case(suite_name: str, logger: DriverLogger, outcome: ScriptOutcome) -> ET.Element:
    case = ET.Element(
        "testcase", name=suite_name, classname=suite_name, time=f"{outcome.duration:.3f}"
    )
    if not outcome.passed:
        failure = ET.SubElement(
            case,
            "failure",
            message=outcome.error_message or "",
            type=outcome.error_type or "Error",
        )
        failure.text = "\n".join(outcome.traceback_lines)
    ET.SubElement(case, "system-out").text = "\n".join(logger.output)
    return case
