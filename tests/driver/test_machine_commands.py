"""Machine command methods against namespace hosts with real sshd, through nxc's SSH transport."""

from __future__ import annotations

import time

import pytest

from nxc.errors import MachineError, RequestedAssertionFailed


@pytest.fixture
def node(driver):
    return driver.machines[0]


def test_succeed_runs_several_commands_and_joins_their_output(node, log_stream):
    output = node.succeed("hostname", "echo second", "printf third")
    assert output == "node-1\nsecond\nthird"
    log = log_stream.getvalue()
    assert "node-1: must succeed: echo second" in log
    assert "(finished: must succeed: echo second, in " in log


def test_commands_run_in_bash_with_strict_options(node):
    assert node.execute("false | true")[0] == 1  # pipefail
    assert node.execute("false; echo not reached")[1] == ""  # errexit
    assert node.execute("echo $UNSET_VARIABLE")[0] != 0  # nounset
    assert node.succeed("[[ -n x ]] && echo bash") == "bash\n"


def test_succeed_failure_names_the_command_and_quotes_its_output(node, log_stream):
    with pytest.raises(RequestedAssertionFailed) as raised:
        node.succeed("true", "echo visible-out; echo visible-err >&2; exit 3")
    message = str(raised.value)
    assert "echo visible-out; echo visible-err >&2; exit 3" in message
    assert "exit code 3" in message
    assert "visible-out" in message and "visible-err" in message
    assert "node-1: output:\n" in log_stream.getvalue()


def test_fail_accepts_failures_and_raises_on_success(node):
    assert node.fail("echo partial; exit 1") == "partial\n"
    with pytest.raises(RequestedAssertionFailed, match="unexpectedly succeeded"):
        node.fail("false", "echo oops")


def test_execute_returns_status_and_stdout_only(node):
    assert node.execute("echo out; echo err >&2; exit 7") == (7, "out\n")


def test_execute_check_return_false_reports_minus_one(node):
    assert node.execute("echo x; exit 5", check_return=False) == (-1, "x\n")


def test_execute_check_output_false_detaches(node, tmp_path):
    marker = tmp_path / "detached"
    node.succeed("true")  # connected: the timing below is the command's alone
    started = time.monotonic()
    assert node.execute(f"sleep 8; [[ -n bash ]] && touch {marker}", check_output=False) == (
        -2,
        "",
    )
    assert time.monotonic() - started < 6
    assert not marker.exists()
    node.wait_for_file(str(marker), timeout=30)


def test_execute_timeout_ends_the_command_with_124(node):
    started = time.monotonic()
    status, _ = node.execute("sleep 30", timeout=1)
    assert status == 124
    assert time.monotonic() - started < 10


def test_succeed_timeout_raises_saying_it_timed_out(node):
    with pytest.raises(RequestedAssertionFailed, match="timed out after 1 s"):
        node.succeed("sleep 30", timeout=1)


def test_wait_until_succeeds_retries_until_success(node, tmp_path):
    flag = tmp_path / "flag"
    node.execute(f"sleep 2; echo ready > {flag}", check_output=False)
    started = time.monotonic()
    assert node.wait_until_succeeds(f"cat {flag}", timeout=20) == "ready\n"
    assert 1.5 < time.monotonic() - started < 10


def test_wait_until_succeeds_times_out(node, log_stream):
    started = time.monotonic()
    with pytest.raises(RequestedAssertionFailed, match=r"timed out after .* \(timeout=2\)"):
        node.wait_until_succeeds("echo still-failing; false", timeout=2)
    assert time.monotonic() - started < 8
    assert "still-failing" in log_stream.getvalue()


def test_wait_until_fails_retries_until_failure(node, tmp_path):
    flag = tmp_path / "present"
    flag.touch()
    node.execute(f"sleep 2; rm {flag}", check_output=False)
    node.wait_until_fails(f"test -e {flag}", timeout=20)
    with pytest.raises(RequestedAssertionFailed):
        node.wait_until_fails("true", timeout=1)


def test_sleep_sleeps_on_the_node(node):
    started = time.monotonic()
    node.sleep(1)
    assert time.monotonic() - started >= 1  # no upper bound: a loaded machine may lag


def test_wait_for_file(node, tmp_path):
    target = tmp_path / "later"
    node.execute(f"sleep 1; touch {target}", check_output=False)
    node.wait_for_file(str(target), timeout=10)
    with pytest.raises(RequestedAssertionFailed):
        node.wait_for_file(str(tmp_path / "never"), timeout=1)


def test_wait_for_open_and_closed_port(node):
    server = "exec python3 -m http.server --bind 127.0.0.1 18080 >/dev/null 2>&1"
    node.execute(f"echo $$ > /tmp/nxc-driver-http.pid; {server}", check_output=False)
    try:
        node.wait_for_open_port(18080, timeout=20)
        node.wait_for_open_port(18080, addr="127.0.0.1", timeout=30)
        with pytest.raises(RequestedAssertionFailed):
            node.wait_for_closed_port(18080, timeout=1)
    finally:
        node.succeed("kill $(cat /tmp/nxc-driver-http.pid)")
    node.wait_for_closed_port(18080, timeout=20)
    with pytest.raises(RequestedAssertionFailed):
        node.wait_for_open_port(18080, timeout=1)


def test_ports_are_seen_from_the_node_not_the_host(driver, ns_deployment):
    first = driver.machines[0]
    # the namespace hosts' sshd listen on their own address only
    other = ns_deployment.deployment.node("node-2").address
    first.wait_for_open_port(22, addr=other, timeout=30)  # returns once open: room for a load
    with pytest.raises(RequestedAssertionFailed):
        first.wait_for_open_port(22, timeout=1)


def test_wait_for_open_unix_socket(node, tmp_path):
    path = tmp_path / "stream.sock"
    listener = (
        "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); "
        "s.listen(); time.sleep(30)"
    )
    node.execute(
        f"echo $$ > {tmp_path}/1.pid; exec python3 -c '{listener}' {path}", check_output=False
    )
    node.wait_for_open_unix_socket(str(path), timeout=60)  # returns once open: room for a load
    with pytest.raises(RequestedAssertionFailed):
        node.wait_for_open_unix_socket(str(tmp_path / "absent.sock"), timeout=1)
    datagram = tmp_path / "dgram.sock"
    bind_dgram = (
        "import socket,sys,time; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
        "s.bind(sys.argv[1]); time.sleep(30)"
    )
    node.execute(
        f"echo $$ > {tmp_path}/2.pid; exec python3 -c '{bind_dgram}' {datagram}", check_output=False
    )
    node.wait_for_open_unix_socket(str(datagram), is_datagram=True, timeout=60)
    node.succeed(f"kill $(cat {tmp_path}/1.pid) $(cat {tmp_path}/2.pid)")


def test_log_and_nested_carry_the_machine_name(node, log_stream):
    with node.nested("a group"):
        node.log("inside")
    log = log_stream.getvalue()
    assert "node-1: a group\n" in log
    assert "  node-1: inside\n" in log
    assert "node-1: (finished: a group, in " in log


def test_identity_attributes(driver):
    node = driver.machines[0]
    assert (node.name, node.hostname, node.role) == ("node-1", "node-1", "server")
    assert [m.role for m in driver.machines] == ["server", "client", "client"]
    assert repr(node) == "<Machine 'node-1'>"


def test_qemu_only_methods_say_why_they_are_missing(node):
    with pytest.raises(MachineError, match="QEMU display"):
        node.screenshot("x")
    with pytest.raises(AttributeError):
        node.no_such_method()
