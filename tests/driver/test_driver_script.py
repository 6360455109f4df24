"""The driver's script runner and symbols, in-process over the namespace deployment."""

from __future__ import annotations

import pytest

from nxc.driver.driver import Driver, pythonize_name
from nxc.errors import PollingConditionError, RequestedAssertionFailed


def test_pythonize_name():
    assert pythonize_name("node-1") == "node_1"
    assert pythonize_name("db.server") == "db_server"
    assert pythonize_name("1st") == "_st"


def test_symbols_of_a_test_script(driver):
    symbols = driver.test_symbols()
    for name in (
        "start_all",
        "join_all",
        "subtest",
        "retry",
        "polling_condition",
        "machines",
        "driver",
        "log",
        "serial_stdout_on",
        "serial_stdout_off",
        "t",
        "node_1",
        "node_2",
        "node_3",
    ):
        assert name in symbols, name
    assert symbols["node_2"].name == "node-2"
    assert "machine" not in symbols  # three nodes: no single `machine`
    assert isinstance(symbols["node_1"], symbols["BaseMachine"])  # type hints of newer scripts


def test_machine_symbol_when_there_is_one_node(driver):
    single = Driver([driver.machines[1]], driver.logger)
    symbols = single.test_symbols()
    assert symbols["machine"] is symbols["node_2"]
    assert single.run_script("assert machine.succeed('hostname') == 'node-2\\n'").passed


def test_t_assertions_fail_as_requested_assertions(driver):
    outcome = driver.run_script("t.assertEqual(1, 2)", "inline.py")
    assert not outcome.passed
    assert outcome.error_type == "RequestedAssertionFailed"
    assert outcome.traceback_lines[1:3] == [
        '  File "inline.py", line 1, in <module>',
        "    t.assertEqual(1, 2)",
    ]
    with pytest.raises(RequestedAssertionFailed):
        driver.test_symbols()["t"].assertIn("x", "abc")


def test_subtests_are_timed_groups(driver, log_stream):
    script = (
        "with subtest('outer'):\n    node_1.sleep(1)\n    with subtest('inner'):\n        pass\n"
    )
    assert driver.run_script(script).passed
    outer, inner = driver.logger.subtests
    assert (outer.name, inner.name) == ("outer", "inner")
    assert outer.duration >= 1 > inner.duration
    assert not outer.failed
    assert "subtest: outer" in log_stream.getvalue()
    assert "(finished: subtest: outer, in " in log_stream.getvalue()


def test_polling_condition_failure_stops_the_script(driver, tmp_path):
    flag = tmp_path / "healthy"
    flag.touch()
    script = f"""
@polling_condition(seconds_interval=0)
def healthy():
    node_1.succeed("test -e {flag}")

with healthy:
    node_2.succeed("true")
    node_2.succeed("rm {flag}")
    node_2.succeed("echo must not run")
"""
    outcome = driver.run_script(script, "polling.py")
    assert not outcome.passed
    assert outcome.error_type == PollingConditionError.__name__
    assert "Polling condition failed: healthy" in outcome.error_message


def test_polling_condition_wait(driver, tmp_path):
    flag = tmp_path / "later"
    script = f"""
@polling_condition(description="flag present")
def flag_present():
    return node_1.execute("test -e {flag}")[0] == 0

node_1.execute("sleep 2; touch {flag}", check_output=False)
flag_present.wait(timeout=20)
"""
    assert driver.run_script(script).passed


def test_serial_stdout_switches(driver, log_stream):
    driver.serial_stdout_off()
    driver.logger.log_serial("hidden line", "node-1")
    driver.serial_stdout_on()
    driver.logger.log_serial("shown line", "node-1")
    assert "hidden line" not in log_stream.getvalue()
    assert "node-1 # shown line" in log_stream.getvalue()


def test_syntax_error_is_a_failed_outcome(driver):
    outcome = driver.run_script("if True\n    pass\n", "bad.py")
    assert not outcome.passed
    assert outcome.error_type == "SyntaxError"
