"""copy_from_host / copy_from_machine through the shared folder, and through SFTP without one."""

from __future__ import annotations

import pytest


@pytest.fixture
def node(driver):
    return driver.machines[2]


def _tree(root):
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("through", ["shared folder", "sftp"])
def test_copy_a_file_both_ways(node, tmp_path, through):
    if through == "sftp":
        node.backend.shared_dir = None
    source = tmp_path / "config.txt"
    source.write_text("key=value\n")
    source.chmod(0o640)
    target = tmp_path / "on-node" / "etc" / "config.txt"
    node.copy_from_host(str(source), str(target))
    assert node.succeed(f"cat {target}") == "key=value\n"
    node.succeed(f"echo from-node > {tmp_path}/result.txt")
    node.copy_from_machine(f"{tmp_path}/result.txt", "results")
    assert (node.out_dir / "results" / "result.txt").read_text() == "from-node\n"
    node.copy_from_vm(f"{tmp_path}/result.txt", "older-name")  # what older scripts call
    assert (node.out_dir / "older-name" / "result.txt").read_text() == "from-node\n"


@pytest.mark.parametrize("through", ["shared folder", "sftp"])
def test_copy_a_folder_both_ways(node, tmp_path, through):
    if through == "sftp":
        node.backend.shared_dir = None
    source = tmp_path / "bundle"
    (source / "sub").mkdir(parents=True)
    (source / "a").write_text("A")
    (source / "sub" / "b").write_text("B")
    node.copy_from_host(str(source), str(tmp_path / "copied"))
    assert node.succeed(f"cat {tmp_path}/copied/a {tmp_path}/copied/sub/b") == "AB"
    node.copy_from_machine(str(tmp_path / "copied"))
    assert _tree(node.out_dir / "copied") == {"a": "A", "sub/b": "B"}


def test_shared_folder_is_seen_by_every_node(driver, ns_deployment):
    first, second = driver.machines[0], driver.machines[1]
    shared = first.backend.shared_dir.node
    first.succeed(f"echo hello-from-node-1 > {shared}/note")
    assert second.succeed(f"cat {shared}/note") == "hello-from-node-1\n"
    assert (ns_deployment.shared_dir / "note").read_text() == "hello-from-node-1\n"
    assert not [p for p in ns_deployment.shared_dir.iterdir() if p.name.startswith("copy-")]
