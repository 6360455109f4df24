# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# A script that fails inside its second subtest: the driver exits 1 and the report says why.
with subtest("passes"):
    node_1.succeed("true")


def check_answer():
    node_2.succeed("echo wrong-answer; exit 3")


with subtest("fails"):
    check_answer()

with subtest("never reached"):
    node_3.succeed("true")
