# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# Commands, assertions and waits on a three-node deployment (node-1 server, node-2/3 clients).
start_all()

with subtest("every node answers with its own hostname"):
    for m in machines:
        t.assertEqual(m.succeed("hostname").strip(), m.name)
    node_1.wait_until_succeeds('test -n "$(hostname)"', timeout=30)

with subtest("succeed, fail and execute"):
    out = node_1.succeed("echo one", "echo two")
    t.assertEqual(out, "one\ntwo\n")
    node_2.fail("false", "test -e /nonexistent/file")
    status, output = node_3.execute("echo out; exit 4")
    assert status == 4 and output == "out\n", (status, output)
    status, _ = node_3.execute("sleep 20", timeout=1)
    t.assertEqual(status, 124)

with subtest("nodes reach each other"):
    server = node_1.succeed("hostname -I").split()[0]
    node_2.wait_for_open_port(22, addr=server, timeout=30)
    node_3.succeed(f"timeout 5 bash -c 'exec 3<>/dev/tcp/{server}/22'")
