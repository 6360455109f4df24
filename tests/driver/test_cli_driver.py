"""``nxc driver`` through the real CLI in a subprocess: the script corpus, JUnit reports read
back, the REPL with piped input, and bad input.

The subprocess registers the namespace flavour (``nsflavour.py``) before running ``nxc``'s
own ``main``; everything else is the installed command.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.driver.conftest import COMPOSITION, MANIFEST_TEST_SCRIPT
from tests.driver.nsflavour import FLAVOUR_NAME, REGISTRY_ENTRY

SCRIPTS = Path(__file__).parent / "scripts"
REPO = Path(__file__).parents[2]
LAUNCHER = (
    "import sys\n"
    "from nxc.flavours.base import REGISTRY\n"
    f"REGISTRY[{FLAVOUR_NAME!r}] = {REGISTRY_ENTRY!r}\n"
    "from nxc.cli import main\n"
    "main(sys.argv[1:])\n"
)


def nxc(project: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, "-d", str(project), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def subtest_names(script: Path) -> list[str]:
    return re.findall(r'with subtest\("([^"]+)"\)', script.read_text())


def read_junit(path: Path) -> ET.Element:
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    return suite


@pytest.fixture
def project(ns_deployment, ns_flavour):
    return ns_deployment.project


@pytest.mark.parametrize("name", ["basics", "files", "faults", "polling"])
def test_corpus_script_passes_and_reports_each_subtest(project, tmp_path, name):
    script = SCRIPTS / f"{name}.py"
    report = tmp_path / "report.xml"
    result = nxc(project, "driver", str(script), "--junit-xml", str(report))
    assert result.returncode == 0, result.stderr
    assert "test script passed" in result.stderr
    suite = read_junit(report)
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == subtest_names(script)
    assert suite.get("failures") == "0"
    assert suite.get("tests") == str(len(cases))
    assert all(case.find("failure") is None for case in cases)
    for case in cases:
        assert float(case.get("time")) >= 0
        assert case.findtext("system-out").strip()


def test_failing_script_exits_1_with_a_trimmed_traceback_and_a_junit_failure(project, tmp_path):
    script = SCRIPTS / "failing.py"
    report = tmp_path / "report.xml"
    result = nxc(project, "driver", "--test-script", str(script), "--junit-xml", str(report))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "!!!" in line]
    text = "\n".join(errors)
    lines = script.read_text().splitlines()
    call_line = lines.index("    check_answer()") + 1
    succeed_line = lines.index('    node_2.succeed("echo wrong-answer; exit 3")') + 1
    assert f'File "{script}", line {call_line}' in text
    assert f'File "{script}", line {succeed_line}, in check_answer' in text
    assert "nxc/driver" not in text  # no frame of the driver itself
    assert "RequestedAssertionFailed: command `echo wrong-answer; exit 3` failed" in text
    assert "test script FAILED" in result.stderr

    suite = read_junit(report)
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["passes", "fails"]  # the script stopped at the failure
    assert cases["passes"].find("failure") is None
    failure = cases["fails"].find("failure")
    assert failure.get("type") == "RequestedAssertionFailed"
    assert "exit code 3" in failure.get("message")
    assert "wrong-answer" in failure.get("message")
    assert "check_answer()" in failure.text
    assert suite.get("failures") == "1"


def test_test_script_from_the_build_manifest(project, tmp_path):
    report = tmp_path / "report.xml"
    result = nxc(project, "driver", "-t", "--junit-xml", str(report))
    assert result.returncode == 0, result.stderr
    assert "manifest script ran on node-1, node-2, node-3" in result.stderr
    (case,) = read_junit(report).findall("testcase")
    assert case.get("name") == subtest_names_of(MANIFEST_TEST_SCRIPT)[0]


def subtest_names_of(text: str) -> list[str]:
    return re.findall(r'with subtest\("([^"]+)"\)', text)


def test_script_without_subtests_is_one_test_case(project, tmp_path):
    script = tmp_path / "plain.py"
    script.write_text("node_3.succeed('true')\nassert machines[0].name == 'node-1'\n")
    report = tmp_path / "report.xml"
    result = nxc(project, "driver", str(script), "--junit-xml", str(report))
    assert result.returncode == 0, result.stderr
    (case,) = read_junit(report).findall("testcase")
    assert case.get("name") == f"{COMPOSITION}::{FLAVOUR_NAME}"
    assert "node-3: must succeed: node_3" not in case.findtext("system-out")
    assert "node-3: must succeed: true" in case.findtext("system-out")


def test_error_outside_subtests_is_reported(project, tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("with subtest('fine'):\n    pass\nundefined_name\n")
    report = tmp_path / "report.xml"
    result = nxc(project, "driver", str(script), "--junit-xml", str(report))
    assert result.returncode == 1
    assert "NameError: name 'undefined_name' is not defined" in result.stderr
    assert f'File "{script}", line 3' in result.stderr
    cases = read_junit(report).findall("testcase")
    assert [case.get("name") for case in cases] == ["fine", f"{COMPOSITION}::{FLAVOUR_NAME}"]
    assert cases[1].find("failure").get("type") == "NameError"


def test_repl_with_piped_input(project):
    commands = (
        "print('answer:', node_2.succeed('hostname').strip())\n"
        "print('machines:', [m.name for m in machines])\n"
        "print('symbols:', all(callable(f) for f in (start_all, join_all, subtest, retry)))\n"
    )
    result = nxc(project, "driver", stdin=commands)
    assert result.returncode == 0, result.stderr
    assert "answer: node-2" in result.stdout
    assert "machines: ['node-1', 'node-2', 'node-3']" in result.stdout
    assert "symbols: True" in result.stdout
    assert "machines: node_1, node_2, node_3" in result.stderr  # the banner


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["driver", "a.py", "--test-script", "b.py"], "give only one of FILE, --test-script"),
        (["driver", "--junit-xml", "r.xml"], "--junit-xml needs a test script"),
        (["driver", "/nonexistent/script.py"], "test script /nonexistent/script.py: cannot"),
        (["driver", "-n", "nope::vm", "-t"], "no deployment 'nope::vm'"),
        (["driver", "-n", "not-a-name", "-t"], "invalid deployment name"),
        (["driver", "--boot-timeout", "0", "-t"], "--boot-timeout 0"),
        (["start", "-I", "-t"], "give -I/--interactive alone"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(project, args, message):
    result = nxc(project, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.stderr
