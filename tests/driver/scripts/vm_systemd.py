# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# One test-bed VM of the systemd variant (vm flavour): the systemd calls on a real PID 1.
# The units under test are written here; their programs are busybox applets (no bash, no
# applet links beyond the common ones on the guest, hence /usr/bin/busybox in ExecStart).
from nxc.driver import RequestedAssertionFailed


def write_unit(name, *service_lines):
    lines = " ".join(f"'{line}'" for line in ["[Service]", *service_lines])
    machine.succeed(
        f"printf '%s\\n' {lines} > /etc/systemd/system/{name}", "systemctl daemon-reload"
    )


start_all()

with subtest("systemd is PID 1 and runs sshd"):
    machine.wait_for_unit("multi-user.target")
    machine.wait_for_unit("sshd.service", timeout=60)
    t.assertEqual(machine.succeed("cat /proc/1/comm").strip(), "systemd")
    status, output = machine.systemctl("is-active sshd.service")
    t.assertEqual((status, output.strip()), (0, "active"))
    machine.require_unit_state("sshd.service")
    info = machine.get_unit_info("sshd.service")
    t.assertEqual(
        (info["Id"], info["Type"], info["SubState"]), ("sshd.service", "notify", "running")
    )
    t.assertEqual(machine.succeed(f"cat /proc/{info['MainPID']}/comm").strip(), "sshd")
    machine.wait_for_open_port(22, timeout=60)

with subtest("a unit started and stopped"):
    write_unit("nxc-web.service", "ExecStart=/usr/bin/busybox httpd -f -p 8080 -h /tmp")
    machine.require_unit_state("nxc-web.service", "inactive")
    status, _ = machine.start_job("nxc-web.service")
    t.assertEqual(status, 0)
    machine.wait_for_unit("nxc-web.service", timeout=60)
    machine.wait_for_open_port(8080, timeout=60)
    info = machine.get_unit_info("nxc-web.service")
    t.assertEqual((info["ActiveState"], info["SubState"]), ("active", "running"))
    t.assertEqual(machine.succeed(f"cat /proc/{info['MainPID']}/comm").strip(), "busybox")
    status, _ = machine.stop_job("nxc-web.service")
    t.assertEqual(status, 0)
    machine.wait_for_closed_port(8080, timeout=60)
    machine.require_unit_state("nxc-web.service", "inactive")
    with t.assertRaisesRegex(RequestedAssertionFailed, "to be in state 'active'"):
        machine.require_unit_state("nxc-web.service")

with subtest("wait_for_unit on a failing unit"):
    write_unit("nxc-broken.service", "Type=oneshot", "ExecStart=/bin/false")
    status, _ = machine.start_job("nxc-broken.service")
    t.assertNotEqual(status, 0)
    with t.assertRaisesRegex(RequestedAssertionFailed, r'"nxc-broken\.service" reached state'):
        machine.wait_for_unit("nxc-broken.service", timeout=30)
    t.assertEqual(machine.get_unit_info("nxc-broken.service")["Result"], "exit-code")

with subtest("wait_for_unit on an inactive unit and on a stuck one"):
    with t.assertRaisesRegex(RequestedAssertionFailed, "inactive and there are no pending jobs"):
        machine.wait_for_unit("nxc-web.service", timeout=30)
    write_unit("nxc-stuck.service", "Type=oneshot", "ExecStart=/bin/sleep 600")
    machine.systemctl("start --no-block nxc-stuck.service")
    with t.assertRaisesRegex(RequestedAssertionFailed, "timed out"):
        machine.wait_for_unit("nxc-stuck.service", timeout=3)
    t.assertEqual(machine.get_unit_info("nxc-stuck.service")["ActiveState"], "activating")
    machine.stop_job("nxc-stuck.service")

with subtest("systemctl failures are statuses"):
    status, _ = machine.systemctl("start no-such-unit.service")
    t.assertNotEqual(status, 0)
    status, _ = machine.start_job("no-such-unit.service")
    t.assertNotEqual(status, 0)
    t.assertEqual(machine.get_unit_info("no-such-unit.service")["LoadState"], "not-found")
