"""``nxc driver`` on a hand-edited record: a missing key is the corrupted-record line.

No node runs: the record is refused before any connection is tried.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nxc import keys
from nxc.deployment import Deployment, DeploymentState, DeploymentStore, Node, NodeState

REPO = Path(__file__).parents[2]


def test_a_vm_record_without_console_log_is_a_corrupted_record(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "flake.nix").write_text("{ outputs = _: { }; }\n")
    store = DeploymentStore(project / "deploy")
    name = "comp::vm"
    keys.ensure_client_key(store.client_key_path(name), "nxc:test")
    node = Node(
        hostname="node1",
        role="node",
        address="10.0.0.1",
        ssh_host="127.0.0.1",
        ssh_port=1,
        host_key=keys.generate_keypair("node1").public_line,
        state=NodeState.ready,
        extra={"qemu_log": str(tmp_path / "node1.qemu.log")},
    )
    store.save(Deployment("comp", "vm", nodes=[node], state=DeploymentState.running))
    record = json.loads(store.path_for(name).read_text())
    assert "console_log" not in json.dumps(record)
    script = tmp_path / "script.py"
    script.write_text("node1.succeed('true')\n")
    result = subprocess.run(
        [sys.executable, "-m", "nxc", "-d", str(project), "driver", "-n", name, str(script)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"deployment record {name}: 'nodes[node1].extra.console_log' is missing" in lines[0]
    assert "Traceback" not in result.stderr
