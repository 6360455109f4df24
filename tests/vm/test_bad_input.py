"""Requests the vm flavour refuses before writing or launching anything."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nxc import manifest as manifest_module
from nxc.deploy import start_deployment
from nxc.deployment import DeploymentStore
from nxc.errors import InputError, ManifestError, MissingToolError, ResourceLimitError
from nxc.flavours import get_flavour
from nxc.flavours.vm.flavour import VmFlavour, mem_available_mib
from nxc.flavours.vm.options import VmOptions
from nxc.plan import plan_nodes
from nxc.roles import parse_role_options
from tests.vm.conftest import write_manifest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


@pytest.fixture
def boot_files(tmp_path: Path) -> tuple[Path, Path]:
    kernel, initrd = tmp_path / "bzImage", tmp_path / "initrd"
    kernel.write_bytes(b"not booted by these tests")
    initrd.write_bytes(b"")
    return kernel, initrd


def plan_for(manifest: manifest_module.Manifest, count: int):
    return plan_nodes(manifest, None, parse_role_options([f"node={count}"]))


def assert_nothing_written(store: DeploymentStore) -> None:
    assert not store.deploy_dir.exists() or list(store.deploy_dir.iterdir()) == []


def test_more_nodes_than_memory_is_refused_before_launching(
    tmp_path: Path, boot_files: tuple[Path, Path]
) -> None:
    manifest = manifest_module.load(write_manifest(tmp_path / "m.json", *boot_files, ""))
    store = DeploymentStore(tmp_path / "deploy")
    count = mem_available_mib() // 1024 + 2  # 1 GiB nodes: more than MemAvailable holds
    with pytest.raises(ResourceLimitError) as refused:
        start_deployment(
            store, manifest, plan_for(manifest, count), VmFlavour(VmOptions(memory="1G"))
        )
    assert f"{count} nodes" in str(refused.value) and "MemAvailable" in str(refused.value)
    assert_nothing_written(store)


def test_a_manifest_of_another_flavour_is_refused(tmp_path: Path) -> None:
    manifest = manifest_module.load(FIXTURES / "multi-docker.json")
    store = DeploymentStore(tmp_path / "deploy")
    composition = manifest.compositions[0].name
    plan = plan_nodes(manifest, composition)
    with pytest.raises(ManifestError, match="built for flavour 'docker', not 'vm'"):
        VmFlavour().check_request(manifest, composition, [n.hostname for n in plan.nodes])
    assert_nothing_written(store)


def test_missing_boot_files_are_named(tmp_path: Path) -> None:
    manifest = manifest_module.load(
        write_manifest(tmp_path / "m.json", tmp_path / "gone", tmp_path / "initrd", "")
    )
    with pytest.raises(ManifestError, match=r"kernel .*gone does not exist"):
        VmFlavour().check_request(manifest, "testbed", ["node1"])


def test_forward_to_an_unknown_node_is_refused(
    tmp_path: Path, boot_files: tuple[Path, Path]
) -> None:
    manifest = manifest_module.load(write_manifest(tmp_path / "m.json", *boot_files, ""))
    with pytest.raises(InputError, match="no node 'web1'"):
        VmFlavour(VmOptions(forwards=("web1:80",))).check_request(manifest, "testbed", ["node1"])


def path_with(tmp_path: Path, *programs: str) -> str:
    """A PATH folder holding links to only ``programs`` (plus python for the CLI)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for program in programs:
        found = shutil.which(program)
        assert found, f"{program} must be installed for this test"
        (folder / program).symlink_to(found)
    return str(folder)


@pytest.mark.parametrize(
    ("present", "missing", "package"),
    [
        ((), "qemu-system-x86_64", "qemu-system-x86"),
        (("qemu-system-x86_64",), "vde_switch", "vde2"),
    ],
)
def test_missing_tools_name_their_debian_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, present: tuple[str, ...], missing: str,
    package: str, boot_files: tuple[Path, Path],
) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", path_with(tmp_path, *present))
    with pytest.raises(MissingToolError) as error:
        VmFlavour().check_tools()
    assert error.value.program == missing
    assert f"apt-get install {package}" in str(error.value)
    manifest = manifest_module.load(write_manifest(tmp_path / "m.json", *boot_files, ""))
    store = DeploymentStore(tmp_path / "deploy")
    with pytest.raises(MissingToolError):
        start_deployment(store, manifest, plan_for(manifest, 1), VmFlavour())
    assert_nothing_written(store)


def test_vm_options_are_checked() -> None:
    with pytest.raises(InputError, match="accel 'xen'"):
        VmOptions(accel="xen")
    with pytest.raises(InputError, match="at least 128M"):
        VmOptions(memory="100M")
    with pytest.raises(InputError, match="cpus 0"):
        VmOptions(cpus=0)
    with pytest.raises(InputError, match="cpus 100000 must be between 1 and 255"):
        VmOptions(cpus=100000)
    with pytest.raises(InputError, match="disk_size 'banana' is not a size"):
        VmOptions(disk_size="banana")
    with pytest.raises(InputError, match="timeout nan: must be a positive number"):
        VmOptions(timeout=float("nan"))
    assert VmOptions(disk_size="2G", cpus=2, timeout=30).disk_size == "2G"


def test_registry_gives_the_vm_flavour_and_refuses_unknown_ones() -> None:
    from nxc.errors import ProjectError

    assert isinstance(get_flavour("vm"), VmFlavour)
    assert get_flavour("docker").name == "docker"
    with pytest.raises(ProjectError, match="flavour 'nope'"):
        get_flavour("nope")
