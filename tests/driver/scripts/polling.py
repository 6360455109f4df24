# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# polling_condition and retry, as NixOS tests use them.
import time

server = node_1.succeed("hostname -I").split()[0]


@polling_condition(seconds_interval=1)
def server_reachable():
    "the server answers on port 22"
    node_2.succeed(f"timeout 2 bash -c 'exec 3<>/dev/tcp/{server}/22'")


with subtest("a condition that keeps holding"):
    with server_reachable:
        for _ in range(3):
            node_3.succeed("true")
            time.sleep(0.5)
    server_reachable.wait(timeout=10)

with subtest("retry a python check"):
    attempts = []

    def third_time_lucky(last_try):
        attempts.append(last_try)
        return len(attempts) >= 3

    retry(third_time_lucky, timeout_seconds=30)
    t.assertEqual(attempts, [False, False, False])
    log.info(f"retry took {len(attempts)} attempts")
