"""Project discovery, nxc.json as NixOS-Compose writes it, working folders and clean."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentState, DeploymentStore
from nxc.errors import (
    DeploymentActiveError,
    DeploymentLockedError,
    DeploymentRecordError,
    ProjectError,
)
from nxc.flavours.names import FLAVOUR_NAMES
from nxc.project import Project, find_project, load_config


def make_flake(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flake.nix").write_text("{ outputs = { self }: { }; }\n")
    return folder


def nixos_compose_init(parent: Path, nxc_json: dict | None) -> Path:
    """The layout NixOS-Compose's ``nxc init`` leaves: ./nxc/ and an absolute ./nxc.json link."""
    envdir = make_flake(parent / "nxc")
    (envdir / "composition.nix").write_text("{ pkgs, ... }: { roles = { }; }\n")
    if nxc_json is not None:
        (envdir / "nxc.json").write_text(json.dumps(nxc_json))
    (parent / "nxc.json").symlink_to(envdir / "nxc.json")
    return envdir


def test_flake_in_current_folder_is_the_project(tmp_path):
    make_flake(tmp_path)
    project = find_project(cwd=tmp_path)
    assert project.root == tmp_path
    assert project.config.path is None
    assert project.composition_file == tmp_path / "composition.nix"


def test_project_is_found_upward(tmp_path):
    make_flake(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(cwd=deep).root == tmp_path


def test_nearest_project_wins(tmp_path):
    make_flake(tmp_path)
    inner = make_flake(tmp_path / "inner")
    assert find_project(cwd=inner / ".").root == inner


def test_envdir_relative_and_absolute(tmp_path):
    project_dir = make_flake(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert find_project(Path("../proj"), cwd=elsewhere).root.resolve() == project_dir
    assert find_project(project_dir, cwd=elsewhere).root == project_dir


def test_envdir_that_does_not_exist(tmp_path):
    with pytest.raises(ProjectError, match=r"^envdir .*missing: no such folder.*nxc init"):
        find_project(tmp_path / "missing")
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }")
    with pytest.raises(ProjectError, match=r"flake.nix: is a file, not a folder; give the folder"):
        find_project(tmp_path / "flake.nix")


def test_envdir_without_flake(tmp_path):
    with pytest.raises(ProjectError, match=r"^envdir .*: no flake.nix in .*nxc init"):
        find_project(tmp_path)


def test_no_project_anywhere_says_where_and_how(tmp_path):
    with pytest.raises(ProjectError) as caught:
        find_project(cwd=tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "any folder above it" in message
    assert "nxc init" in message


def test_nixos_compose_init_layout_makes_the_subfolder_the_project(tmp_path):
    envdir = nixos_compose_init(
        tmp_path,
        {
            "composition": "composition.nix",
            "default_flavour": "g5k-nfs-store",
            "platform": "Grid5000",
        },
    )
    project = find_project(cwd=tmp_path)
    assert project.root == envdir
    assert project.config.path == envdir / "nxc.json"
    assert project.default_flavour == "g5k-nfs-store"
    assert project.config.platform == "Grid5000"
    assert project.composition_file == envdir / "composition.nix"
    assert project.composition_file.is_file()


def test_relative_nxc_json_link(tmp_path):
    envdir = make_flake(tmp_path / "sub")
    (envdir / "nxc.json").write_text('{"composition": "composition.nix", "default_flavour": "vm"}')
    (tmp_path / "nxc.json").symlink_to("sub/nxc.json")
    project = find_project(cwd=tmp_path)
    assert project.root == envdir
    assert project.default_flavour == "vm"


def test_dangling_link_left_by_local_init_still_finds_the_project(tmp_path):
    """NixOS-Compose's init writes no nxc.json without a platform but still makes the link."""
    envdir = nixos_compose_init(tmp_path, None)
    assert not (tmp_path / "nxc.json").exists()
    project = find_project(cwd=tmp_path)
    assert project.root == envdir
    assert project.config.path is None
    assert project.default_flavour is None


def test_link_to_a_removed_project(tmp_path):
    (tmp_path / "nxc.json").symlink_to(tmp_path / "gone" / "nxc.json")
    with pytest.raises(ProjectError, match=r"nxc.json \(a link to .*gone/nxc.json\): no flake.nix"):
        find_project(cwd=tmp_path)


def test_nxc_json_without_flake(tmp_path):
    (tmp_path / "nxc.json").write_text("{}")
    with pytest.raises(ProjectError, match=r"nxc.json: no flake.nix in"):
        find_project(cwd=tmp_path)


def test_old_nixos_compose_nxc_json_with_envdir_and_absolute_composition(tmp_path):
    make_flake(tmp_path)
    composition = tmp_path / "my-composition.nix"
    (tmp_path / "nxc.json").write_text(
        json.dumps({"envdir": str(tmp_path), "composition": str(composition)})
    )
    project = find_project(cwd=tmp_path)
    assert project.composition_file == composition
    assert project.config.extra == {"envdir": str(tmp_path)}
    assert project.default_flavour is None


def test_empty_default_flavour_means_unset(tmp_path):
    """NixOS-Compose projects write "default_flavour": "" for no default."""
    path = tmp_path / "nxc.json"
    path.write_text('{"composition": "composition.nix", "default_flavour": ""}')
    assert load_config(path).default_flavour is None


def test_null_default_flavour_is_accepted(tmp_path):
    path = tmp_path / "nxc.json"
    path.write_text('{"composition": "composition.nix", "default_flavour": null}')
    assert load_config(path).default_flavour is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{\n  "composition": "composition.nix",\n  "default_flavour": vm\n}\n',
            ":3:22: not valid JSON",
        ),
        ("", ":1:1: not valid JSON"),
        ('["vm"]', ": must hold a JSON object .* not list"),
        (
            '{\n  "composition": "c.nix",\n  "platform": 5000\n}',
            ":3: 'platform' must be a non-empty string",
        ),
    ],
    ids=["syntax", "empty", "not-an-object", "wrong-type"],
)
def test_broken_nxc_json_names_file_line_and_problem(tmp_path, content, expected):
    path = tmp_path / "nxc.json"
    path.write_text(content)
    with pytest.raises(ProjectError, match=rf"^{path}{expected}"):
        load_config(path)


def test_unknown_flavour_lists_the_valid_ones(tmp_path):
    path = tmp_path / "nxc.json"
    path.write_text('{"composition": "composition.nix",\n "default_flavour": "vmm-ramdisk"}')
    with pytest.raises(ProjectError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: default_flavour: unknown flavour 'vmm-ramdisk'")
    for name in FLAVOUR_NAMES:
        assert name in message


def test_discovery_creates_no_folder(tmp_path):
    make_flake(tmp_path)
    before = sorted(tmp_path.iterdir())
    project = find_project(cwd=tmp_path)
    _ = project.deployments.names()
    assert sorted(tmp_path.iterdir()) == before
    assert not any(folder.exists() for folder in project.work_dirs)


def test_ensure_dir_creates_only_working_folders(tmp_path):
    project = Project(make_flake(tmp_path))
    assert project.ensure_dir(project.build_dir).is_dir()
    assert project.ensure_dir(project.artifact_dir) == tmp_path / "artifact"
    with pytest.raises(ValueError):
        project.ensure_dir(tmp_path / "elsewhere")


def record(project: Project, name: str, state: DeploymentState) -> Deployment:
    composition, flavour = name.split("::")
    deployment = Deployment(composition, flavour, state=state)
    project.deployments.save(deployment)
    return deployment


def populate(project: Project) -> Path:
    """Working folders as builds leave them: store links and read-only copied trees."""
    target = project.root / "outside-target"
    target.write_text("not ours")
    project.ensure_dir(project.build_dir)
    (project.build_dir / "composition::vm").symlink_to(target)
    image = project.ensure_dir(project.artifact_dir) / "image" / "nested"
    image.mkdir(parents=True)
    (image / "kernel").write_text("k")
    (image / "kernel").chmod(0o444)
    image.chmod(0o555)
    image.parent.chmod(0o555)
    return target


def test_clean_removes_all_working_folders_even_read_only_ones(tmp_path):
    project = Project(make_flake(tmp_path))
    target = populate(project)
    record(project, "composition::vm", DeploymentState.stopped)
    store = DeploymentStore(project.deploy_dir)
    store.state_dir("composition::vm")
    private = store.secret_dir("composition::vm")
    removed = project.clean()
    assert removed == project.work_dirs
    assert not any(folder.exists() for folder in project.work_dirs)
    assert not private.exists()  # the deployments' keys, kept outside the project
    assert target.read_text() == "not ours"
    assert project.flake_file.is_file()


def test_clean_with_nothing_to_remove(tmp_path):
    assert Project(make_flake(tmp_path)).clean() == []


@pytest.mark.parametrize("state", ["starting", "running", "stopping"])
def test_clean_refuses_while_a_deployment_is_active(tmp_path, state):
    project = Project(make_flake(tmp_path))
    populate(project)
    record(project, "composition::vm", DeploymentState.stopped)
    record(project, "other::docker", DeploymentState(state))
    with pytest.raises(DeploymentActiveError) as caught:
        project.clean()
    message = str(caught.value)
    assert f"other::docker ({state})" in message
    assert "composition::vm" not in message
    assert "nxc stop" in message
    assert all(folder.exists() for folder in project.work_dirs)
    assert project.clean(force=True) == project.work_dirs
    assert not project.deploy_dir.exists()


@pytest.mark.parametrize("state", ["planned", "stopped", "failed"])
def test_clean_accepts_inactive_deployments(tmp_path, state):
    project = Project(make_flake(tmp_path))
    record(project, "composition::vm", DeploymentState(state))
    assert project.clean() == [project.deploy_dir]


def test_clean_refuses_while_another_nxc_process_holds_a_lock(tmp_path):
    """An 'nxc start' holds the lock of a deployment whose record it has not written yet."""
    project = Project(make_flake(tmp_path))
    populate(project)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(project.deploy_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DeploymentLockedError, match=rf"locked by pid {holder.pid}"):
            project.clean()
        assert all(folder.exists() for folder in project.work_dirs)
        assert project.clean(force=True) == project.work_dirs
    finally:
        holder.kill()
        holder.wait(timeout=30)


HOLD_LOCK = """
import sys, time
from pathlib import Path
from nxc.deployment import DeploymentStore
with DeploymentStore(Path(sys.argv[1])).lock("new::vm"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_clean_stops_on_a_corrupted_record_unless_forced(tmp_path):
    project = Project(make_flake(tmp_path))
    record(project, "composition::vm", DeploymentState.stopped)
    (project.deploy_dir / "composition::vm.json").write_text("{")
    with pytest.raises(DeploymentRecordError, match="nxc clean --force"):
        project.clean()
    assert project.deploy_dir.exists()
    assert project.clean(force=True) == [project.deploy_dir]


def test_unreadable_nxc_json(tmp_path):
    path = tmp_path / "nxc.json"
    path.mkdir()
    with pytest.raises(ProjectError, match=rf"^{path}: cannot read it"):
        load_config(path)
