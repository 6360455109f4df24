"""No deployment state or private key reaches the Nix store through the project's flake.

A ``path:`` flake is copied whole into the world-readable store. nxc names to Nix a snapshot
of the project without ``build/ deploy/ artifact/`` (``nxc.build.flake_source``). Here the
real ``nix`` copies what nxc hands it: ``on_command`` sees each command line nxc runs, and
``nix flake metadata`` on the same flake reference (the snapshot exists while the command
runs) gives the store path Nix copied it to.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from nxc import keys
from nxc.build import SOURCE_PREFIX, check_output, list_outputs, nix_system
from nxc.deployment import Deployment, DeploymentStore
from nxc.nix_cli import NixCommand
from tests.nix.fixture import nix_environment

pytestmark = pytest.mark.nix


def source_copy(flake: str) -> Path:
    """The store path Nix copies the flake ``flake`` (``path:/dir``) to."""
    result = subprocess.run(
        ["nix", "--extra-experimental-features", "nix-command flakes",
         "flake", "metadata", "--json", flake],
        capture_output=True, text=True, env=nix_environment(), timeout=300, check=True,
    )  # fmt: skip
    return Path(json.loads(result.stdout)["path"])


def copies_made_by_nxc(project: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Store copies of the flakes nxc names to Nix while listing and checking outputs."""
    for key, value in nix_environment().items():
        monkeypatch.setenv(key, value)
    nix = NixCommand.find()
    copies: list[Path] = []

    def on_command(argv: list[str]) -> None:
        flake = next(arg for arg in argv if arg.startswith("path:")).split("#")[0]
        copies.append(source_copy(flake))

    nix.on_command = on_command
    system = nix_system()
    outputs = list_outputs(nix, project, system)
    assert "composition::vm" in outputs
    checked, problems = check_output(nix, project, system, "composition::vm")
    assert checked and problems == []
    return copies


def leaks(copy: Path, secrets_: list[bytes]) -> list[Path]:
    return [
        path
        for path in copy.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and any(s in path.read_bytes() for s in secrets_)
    ]


def test_deployment_keys_stay_out_of_the_project_and_the_store(fixture_project, monkeypatch):
    store = DeploymentStore(fixture_project / "deploy")
    name = "composition::vm"
    client_key = store.client_key_path(name)
    keys.ensure_client_key(client_key, f"nxc:{name}")
    host_key = keys.generate_keypair("node1-host-key")
    keys.write_private_key(store.secret_dir(name) / "nodes" / "node1.host_key", host_key)

    assert fixture_project not in client_key.parents
    assert store.secret_dir(name).stat().st_mode & 0o777 == 0o700
    secret_lines = [client_key.read_bytes().strip(), host_key.private_openssh.strip()]
    for copy in copies_made_by_nxc(fixture_project, monkeypatch):
        assert leaks(copy, secret_lines) == []


def test_no_record_log_shared_file_token_or_result_reaches_the_store(fixture_project, monkeypatch):
    """Before: the whole project, deploy/ (record with the info server's token, logs, the
    shared folder) and artifact/ included, was copied into the store by every Nix call."""
    token = secrets.token_urlsafe(24)
    store = DeploymentStore(fixture_project / "deploy")
    name = "composition::g5k-ramdisk"
    store.save(
        Deployment(
            "composition",
            "g5k-ramdisk",
            resources={"info_server": {"pid": 1, "port": 1, "token": token, "marker": "m"}},
        )
    )
    (store.log_dir(name) / "infoserver.log").write_text(f"GET /{token}/info.json\n")
    shared = store.state_dir(name) / "shared"
    shared.mkdir()
    (shared / "notes").write_text(f"shared {token}\n")
    (fixture_project / "artifact" / "bench").mkdir(parents=True)
    (fixture_project / "artifact" / "bench" / "results.json").write_text(f'{{"t": "{token}"}}')
    (fixture_project / "build").mkdir()
    (fixture_project / "build" / "composition::vm.log").write_text(f"log {token}\n")

    copies = copies_made_by_nxc(fixture_project, monkeypatch)
    assert len(copies) >= 3  # outputs listed, roles checked one by one, output checked
    for copy in copies:
        assert (copy / "flake.nix").is_file() and (copy / "composition.nix").is_file()
        assert not any((copy / folder).exists() for folder in ("deploy", "artifact", "build"))
        assert leaks(copy, [token.encode()]) == []
    assert list((fixture_project / "build").glob(f"{SOURCE_PREFIX}*")) == []
    assert store.load(name).resources["info_server"]["token"] == token


def test_the_lock_file_nix_writes_reaches_the_project(fixture_project, monkeypatch, tmp_path):
    """Nix writes flake.lock into the snapshot it is given (here for a new input); nxc keeps
    it in the project, as Nix did when it was given the project itself."""
    dependency = tmp_path / "dependency"
    dependency.mkdir()
    (dependency / "x").write_text("x")
    flake = fixture_project / "flake.nix"
    text = flake.read_text().replace("{ self }:", "{ self, ... }:")
    inputs = f'inputs.dependency = {{ url = "path:{dependency}"; flake = false; }};\n'
    flake.write_text(text.replace("  outputs =", f"  {inputs}  outputs =", 1))
    assert not (fixture_project / "flake.lock").exists()
    copies_made_by_nxc(fixture_project, monkeypatch)
    lock = json.loads((fixture_project / "flake.lock").read_text())
    assert lock["nodes"]["dependency"]["locked"]["path"] == str(dependency)
