# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# Two test-bed VMs (vm flavour, `-r node=2`): the shared folder, copies, crash, block, reboot.
import pathlib
import tempfile

start_all()

with subtest("nodes share /tmp/shared"):
    node1.succeed("echo from-node1 > /tmp/shared/hello")
    t.assertEqual(node2.succeed("cat /tmp/shared/hello").strip(), "from-node1")

with subtest("files from and to the host"):
    source = pathlib.Path(tempfile.mkdtemp()) / "payload.txt"
    source.write_text("from the host\n")
    node2.copy_from_host(str(source), "/root/in/payload.txt")
    node2.succeed("md5sum /root/in/payload.txt > /root/sum")
    node2.copy_from_machine("/root/sum", "vm")
    assert (
        (driver.out_dir / "vm" / "sum")
        .read_text()
        .startswith(node1.succeed("echo 'from the host' | md5sum").split()[0])
    )

with subtest("a crashed node is restarted"):
    node2.crash()
    node1.wait_until_fails("ping -c 1 -W 1 node2", timeout=60)
    node2.start()
    node2.wait_for_console_text("nxc-ready node2", timeout=900)
    node1.wait_until_succeeds("ping -c 1 -W 1 node2", timeout=900)

with subtest("a blocked node is cut off the other"):
    node2.block()
    node1.fail("ping -c 1 -W 2 node2")
    node2.unblock()
    node1.wait_until_succeeds("ping -c 1 -W 1 node2", timeout=60)

with subtest("reboot"):
    node1.reboot()
    t.assertEqual(node1.succeed("hostname").strip(), "node1")
