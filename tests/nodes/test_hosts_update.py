"""The node's ``nxc-hosts-update`` (nxc/nix/modules/hosts-update.sh), run for real.

The same script NixOS' base module wraps and the test-bed guest installs, with jq, in both
shells nodes have; the node's folders (/run/nxc, /etc/nxc, /etc/hosts) redirected into a
temporary folder.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

MODULES = Path(__file__).parents[2] / "nxc" / "nix" / "modules"
SHELLS = ["/bin/sh", "/bin/busybox sh"]


def _node(tmp_path: Path) -> dict[str, Path]:
    run, etc = tmp_path / "run", tmp_path / "etc-nxc"
    run.mkdir()
    info = {
        "version": 1,
        "deployment": "c::vm",
        "authorized_keys": ["ssh-ed25519 AAAA deploy@nxc"],
        "root_ssh_key": {"public": "ssh-ed25519 BBBB root", "private": "PRIVATE"},
        "nodes": [
            {"hostname": "node1", "role": "node", "address": "10.9.0.1"},
            {"hostname": "node2", "role": "node", "address": "10.9.0.2"},
        ],
    }
    (run / "info.json").write_text(json.dumps(info))
    (run / "info.json").chmod(0o600)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.9.0.1 node1\n10.9.0.2 node2\n")
    return {"run": run, "etc": etc, "hosts": hosts}


def _update(shell: str, paths: dict[str, Path], document: Path) -> subprocess.CompletedProcess:
    if not Path(shell.split()[0]).exists() or not shutil.which("jq"):
        pytest.skip(f"needs {shell} and jq")
    env = {
        "PATH": "/usr/bin:/bin",
        "NXC_RUN": str(paths["run"]),
        "NXC_ETC": str(paths["etc"]),
        "NXC_HOSTS_FILE": str(paths["hosts"]),
        "NXC_NODE_INFO": str(MODULES / "node-info.sh"),
        "NXC_CONSOLES": "",
    }
    return subprocess.run(
        [*shell.split(), str(MODULES / "hosts-update.sh"), str(document)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_a_node_added_and_one_removed_reach_every_file(shell: str, tmp_path: Path):
    paths = _node(tmp_path)
    document = tmp_path / "nodes.update.json"
    nodes = [
        {"hostname": "node1", "role": "node", "address": "10.9.0.1"},
        {"hostname": "node3", "role": "node", "address": "10.9.0.3"},
    ]
    document.write_text(json.dumps({"deployment": "c::vm", "nodes": nodes}))

    result = _update(shell, paths, document)

    assert result.returncode == 0, result.stderr
    assert paths["hosts"].read_text().splitlines() == [
        "127.0.0.1 localhost",
        "::1 localhost",
        "10.9.0.1 node1",
        "10.9.0.3 node3",
    ]
    info = json.loads((paths["run"] / "info.json").read_text())
    assert info["nodes"] == nodes
    assert info["root_ssh_key"]["private"] == "PRIVATE"  # the rest of the info is kept
    assert stat.S_IMODE((paths["run"] / "info.json").stat().st_mode) == 0o600
    assert json.loads((paths["etc"] / "deployment.json").read_text()) == {
        "deployment": {
            "10.9.0.1": {"role": "node", "host": "node1"},
            "10.9.0.3": {"role": "node", "host": "node3"},
        },
        "ssh_key.pub": "ssh-ed25519 AAAA deploy@nxc",
    }
    assert (paths["etc"] / "deployment-hosts").read_text() == "10.9.0.1 node1\n10.9.0.3 node3\n"
    assert not list(paths["run"].glob(".*.tmp"))


@pytest.mark.parametrize(
    "content",
    ['{"deployment": "c::vm"}', '{"nodes": [{"hostname": "node3"}]}', "not json"],
)
def test_a_bad_nodes_list_changes_nothing_and_says_so_in_one_line(content: str, tmp_path: Path):
    paths = _node(tmp_path)
    before = paths["hosts"].read_text(), (paths["run"] / "info.json").read_text()
    document = tmp_path / "nodes.update.json"
    document.write_text(content)

    result = _update("/bin/sh", paths, document)

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "no nodes list" in result.stderr
    assert (paths["hosts"].read_text(), (paths["run"] / "info.json").read_text()) == before


def test_a_missing_file_is_one_line(tmp_path: Path):
    paths = _node(tmp_path)
    result = _update("/bin/sh", paths, tmp_path / "absent.json")
    assert result.returncode == 2
    assert "give the file of the new nodes list" in result.stderr
