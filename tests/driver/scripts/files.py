# ruff: noqa: F821  (the driver provides the machines and helpers as globals)
# Files between host and nodes, through the shared folder.
import pathlib
import tempfile

with subtest("host to node and back"):
    folder = pathlib.Path(tempfile.mkdtemp())
    (folder / "payload.txt").write_text("from the host\n")
    node_2.copy_from_host(str(folder / "payload.txt"), f"{folder}/node-2/payload.txt")
    t.assertEqual(node_2.succeed(f"cat {folder}/node-2/payload.txt"), "from the host\n")
    node_2.succeed(f"sha256sum {folder}/node-2/payload.txt > {folder}/node-2/sum")
    node_2.copy_from_machine(f"{folder}/node-2/sum", "sums")
    assert (
        (driver.out_dir / "sums" / "sum")
        .read_text()
        .startswith(node_1.succeed(f"sha256sum < {folder}/payload.txt").split()[0])
    )

with subtest("waiting for a file another node writes"):
    node_3.execute(f"sleep 1; echo done > {folder}/flag", check_output=False)
    node_1.wait_for_file(f"{folder}/flag", timeout=30)
