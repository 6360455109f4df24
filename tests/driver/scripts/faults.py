# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# A node crashes and comes back, another is cut off the network: the others notice.
server = node_1.succeed("hostname -I").split()[0]
reach_server = f"timeout 2 bash -c 'exec 3<>/dev/tcp/{server}/22'"

with subtest("crash and restart the server"):
    node_1.crash()
    node_2.wait_until_fails(reach_server, timeout=30)
    node_1.start()
    node_1.wait_for_console_text("nxc-ready node-1", timeout=60)
    node_2.wait_until_succeeds(reach_server, timeout=60)

with subtest("a partitioned client cannot reach the server"):
    node_3.block()
    node_3.fail(reach_server)
    node_2.succeed(reach_server)
    node_3.unblock()
    node_3.wait_until_succeeds(reach_server, timeout=30)

with subtest("reboot a client"):
    node_2.reboot()
    t.assertEqual(node_2.succeed("hostname").strip(), "node-2")
