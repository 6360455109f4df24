"""No private key of a deployment reaches the Nix store through the project's flake.

``nxc build`` names the project to Nix as a ``path:`` flake, which copies the whole project
folder into the world-readable store. The real ``nix`` copies it here (``nix flake metadata``
does the same fetch as the build's first step), with a deployment's keys made first.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from nxc import keys
from nxc.build import flake_ref
from nxc.deployment import DeploymentStore
from tests.nix.fixture import nix_environment

pytestmark = pytest.mark.nix


def source_copy(project: Path) -> Path:
    """The store path Nix copied the project to."""
    result = subprocess.run(
        ["nix", "--extra-experimental-features", "nix-command flakes",
         "flake", "metadata", "--json", flake_ref(project)],
        capture_output=True, text=True, env=nix_environment(), timeout=300, check=True,
    )  # fmt: skip
    return Path(json.loads(result.stdout)["path"])


def test_deployment_keys_stay_out_of_the_project_and_the_store(fixture_project: Path) -> None:
    store = DeploymentStore(fixture_project / "deploy")
    name = "composition::vm"
    client_key = store.client_key_path(name)
    keys.ensure_client_key(client_key, f"nxc:{name}")
    host_key = keys.generate_keypair("node1-host-key")
    keys.write_private_key(store.secret_dir(name) / "nodes" / "node1.host_key", host_key)
    store.log_dir(name)  # the project's own deploy/ state exists and is copied

    assert fixture_project not in client_key.parents
    assert store.secret_dir(name).stat().st_mode & 0o777 == 0o700
    copied = source_copy(fixture_project)
    assert (copied / "deploy" / f"{name}.d" / "logs").is_dir()
    secrets = [client_key.read_bytes().strip(), host_key.private_openssh.strip()]
    leaked = [
        path
        for path in copied.rglob("*")
        if path.is_file() and any(secret in path.read_bytes() for secret in secrets)
    ]
    assert leaked == []
