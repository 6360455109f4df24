"""The bundled compositions (compositions/glusterfs, beegfs, cephfs).

Without nixpkgs (none here) they cannot be evaluated as NixOS systems. What runs here, with
real Nix: every file parses; the real library (nxc/nix/lib.nix) accepts each composition
(roles, default counts, test script) with a stub seam, and each role module is called with
placeholder packages standing in for nixpkgs (and BeeGFS' overlay) so that the option
paths it sets are compared with those checked against nixpkgs' nixos-25.05 sources. The
`nixos`-marked test builds them for real where Nix can fetch nixpkgs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.nix.conftest import REPO, run_nxc
from tests.nix.fixture import nix_environment

pytestmark = pytest.mark.nix

COMPOSITIONS = REPO / "compositions"
INSPECT = Path(__file__).with_name("inspect_composition.nix")
NAMES = ["glusterfs", "beegfs", "cephfs"]
BEEGFS_746_SHA512 = "sha512-PZv6JF5nk5hVjfoLW+1XixIaCJBY6z4/PC9PAIBegWE33hF3POKHpi94qkiYUm2eHkhuIsYp279B5djb5T3vvw=="
"""GitHub's archive of BeeGFS 7.4.6: SHA-512 3d9bfa24...53defbf (10725821 bytes) as recorded in
gkowal/acrux-overlay's sys-cluster/beegfs-kmod/Manifest, in Nix's SRI form."""
PACKAGES = {
    "glusterfs": ["glusterfs", "fio", "jq", "util-linux", "xfsprogs", "gawk", "bash"],
    "beegfs": ["beegfs", "fio", "jq", "util-linux", "xfsprogs", "bash"],
    "cephfs": ["ceph", "fio", "util-linux", "kmod", "python3"],
}

DEFAULT_COUNTS = {
    "glusterfs": {"server": 3, "client": 2},
    "beegfs": {"mgmt": 1, "meta": 1, "storage": 2, "client": 2},
    "cephfs": {"mon": 1, "osd": 3, "mds": 1, "client": 2},
}

# Option paths (or prefixes of free-form attribute sets) the compositions may set. Service
# options were read in nixpkgs nixos-25.05: nixos/modules/services/network-filesystems/
# glusterfs.nix and ceph.nix; the rest are core NixOS options.
VERIFIED_OPTIONS = {
    "services.glusterfs.enable",
    "services.glusterfs.useRpcbind",
    "services.glusterfs.enableGlustereventsd",
    "services.ceph.enable",
    "services.ceph.global.fsid",
    "services.ceph.global.monInitialMembers",
    "services.ceph.global.monHost",
    "services.ceph.extraConfig",
    *(
        f"services.ceph.{t}.{o}"
        for t in ("mon", "mgr", "mds", "osd")
        for o in ("enable", "daemons")
    ),
    "services.ceph.osd.extraConfig",
    "networking.firewall.enable",
    "environment.systemPackages",
    "environment.etc",
    "systemd.services",
    "systemd.tmpfiles.rules",
    "boot.kernelModules",
    "boot.extraModulePackages",
    "boot.kernelPackages",
    "nixpkgs.config.allowUnfreePredicate",
    "fileSystems",
}


def _verified(path: str) -> bool:
    return any(path == option or path.startswith(option + ".") for option in VERIFIED_OPTIONS)


@pytest.fixture(scope="module")
def nix_instantiate() -> str:
    program = shutil.which("nix-instantiate")
    if program is None:
        pytest.skip("needs nix-instantiate (Debian nix-bin)")
    return program


def inspect(nix_instantiate: str, name: str, packages: list[str]) -> dict:
    argv = [
        nix_instantiate, "--eval", "--strict", "--json",
        "--arg", "repo", str(REPO),
        "--arg", "composition", str(COMPOSITIONS / name / "composition.nix"),
        "--arg", "packages", "[ " + " ".join(f'"{p}"' for p in packages) + " ]",
        str(INSPECT),
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, env=nix_environment(), check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_file_parses(nix_instantiate: str) -> None:
    files = sorted(COMPOSITIONS.glob("*/*.nix"))
    assert {f.parent.name for f in files} == set(NAMES)
    for path in files:
        done = subprocess.run(
            [nix_instantiate, "--parse", str(path)],
            capture_output=True, text=True, env=nix_environment(), check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{path}: {done.stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_project_files_follow_the_templates(name: str) -> None:
    folder = COMPOSITIONS / name
    assert json.loads((folder / "nxc.json").read_text()) == {
        "composition": "composition.nix",
        "default_flavour": "vm",
    }
    flake = (folder / "flake.nix").read_text()
    assert 'nxc.url = "NXC_URL";' in flake
    assert 'nixpkgs.follows = "nxc/nixpkgs";' in flake
    assert "composition = ./composition.nix;" in flake


@pytest.mark.parametrize("name", NAMES)
def test_roles_counts_options_and_test_script(nix_instantiate: str, name: str) -> None:
    report = inspect(nix_instantiate, name, PACKAGES[name])
    composition = report["manifest"]["compositions"]["composition"]
    counts = {role: value["default_count"] for role, value in composition["roles"].items()}
    assert counts == DEFAULT_COUNTS[name]

    unverified = {
        role: [path for path in paths if not _verified(path)]
        for role, paths in report["options"].items()
    }
    assert unverified == {role: [] for role in counts}
    assert "environment.systemPackages" in report["options"]["client"]

    script = composition["test_script"]
    compile(script, f"{name}/composition.nix testScript", "exec")
    assert "start_all()" in script
    assert "echo nxc-shared-check > /mnt/fs/hello" in script
    assert "grep -x nxc-shared-check /mnt/fs/hello" in script


def test_service_options_per_role(nix_instantiate: str) -> None:
    gluster = inspect(nix_instantiate, "glusterfs", PACKAGES["glusterfs"])["options"]
    assert "services.glusterfs.enable" in gluster["server"]
    assert not any(p.startswith("services.glusterfs") for p in gluster["client"])
    for role in ("server", "client"):
        # the nodes form and mount the volume themselves, before sshd (readiness) starts
        for option in ("serviceConfig.ExecStart", "before", "path", "environment.GLUSTER_VOLUME"):
            assert f"systemd.services.nxc-glusterfs.{option}" in gluster[role]
    ceph = inspect(nix_instantiate, "cephfs", PACKAGES["cephfs"])["options"]
    for role in ("mon", "osd", "mds", "client"):
        # ids, fsid and mon_host are known at boot only: not nixpkgs' services.ceph
        assert not any(p.startswith("services.ceph") for p in ceph[role])
        for option in ("serviceConfig.ExecStart", "before", "path", "environment"):
            assert any(p.startswith(f"systemd.services.nxc-ceph.{option}") for p in ceph[role])
    assert "boot.kernelModules" in ceph["client"]
    beegfs = inspect(nix_instantiate, "beegfs", PACKAGES["beegfs"])["options"]
    daemons = {"mgmt": "mgmtd", "meta": "meta", "storage": "storage", "client": "helperd"}
    for role, daemon in daemons.items():
        for unit in ("nxc-beegfs", f"beegfs-{daemon}"):
            assert f"systemd.services.{unit}.serviceConfig.ExecStart" in beegfs[role]
            assert f"systemd.services.{unit}.before" in beegfs[role]
    assert "systemd.services.nxc-beegfs-mount.serviceConfig.ExecStart" in beegfs["client"]
    assert "boot.extraModulePackages" in beegfs["client"]
    assert "environment.systemPackages" in beegfs["client"]


def test_beegfs_package_module_and_kernel() -> None:
    """BeeGFS' package files evaluated with stand-ins for stdenv, fetchurl and kernels: the
    overlay gives the package (GCC 13) and a kernel -> module function; the source is 7.4.6 at
    its recorded SHA-512; the module is built for the given kernel from the same source and is
    marked broken from 6.12 on (7.4.6 supports up to 6.11); every system boots Linux 6.6 and
    allows only BeeGFS' licence."""
    program = shutil.which("nix-instantiate")
    if program is None:
        pytest.skip("needs nix-instantiate (Debian nix-bin)")
    argv = [
        program, "--eval", "--strict", "--json",
        "--arg", "folder", str(COMPOSITIONS / "beegfs"),
        str(INSPECT.with_name("inspect_beegfs.nix")),
    ]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, env=nix_environment(), check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["overlay"] == {
        "names": ["beegfs", "beegfsClientModule"],
        "beegfsFile": "beegfs.nix",
        "beegfsStdenv": "gcc13Stdenv",
        "moduleFile": "beegfs-client-module.nix",
    }
    package = report["package"]
    assert (package["pname"], package["version"]) == ("beegfs", "7.4.6")
    assert package["src"] == {
        "url": "https://github.com/ThinkParQ/beegfs/archive/7.4.6.tar.gz",
        "hash": BEEGFS_746_SHA512,
    }
    assert package["makeFlags"] == ["BEEGFS_VERSION=7.4.6"]
    for daemon in ("mgmtd", "meta", "storage", "helperd", "ctl"):
        assert f"{daemon}-all" in package["buildFlags"]
    assert "$out/bin/beegfs-$component" in package["installPhase"]
    module = report["clientModule"]["6.6.50"]
    assert module["sameSource"] and not module["broken"]
    assert (
        "KDIR=/nix/store/00000000000000000000000000000000-linux-6.6.50-dev/lib/modules/6.6.50/build"
        in module["makeFlags"]
    )
    assert "BEEGFS_NO_RDMA=1" in module["makeFlags"]
    assert "$out/lib/modules/6.6.50/extra/beegfs.ko" in module["installPhase"]
    assert report["clientModule"]["6.12.30"]["broken"] is True
    assert report["common"] == {"kernelPackages": "linux_6_6", "unfreeAllowed": [True, False]}


@pytest.mark.nixos
@pytest.mark.parametrize("name", NAMES)
def test_composition_builds_for_vm(name: str, tmp_path: Path) -> None:
    """Needs Nix with network access to nixpkgs (full NixOS builds; BeeGFS: its package, its
    client module for Linux 6.6 and its module, from the composition's overlay)."""
    if shutil.which("nix") is None:
        pytest.skip("needs nix")
    project = tmp_path / name
    shutil.copytree(COMPOSITIONS / name, project)
    flake = project / "flake.nix"
    flake.write_text(flake.read_text().replace("NXC_URL", f"path:{REPO}"))
    env = dict(nix_environment())
    env.pop("NXC_NIX_OFFLINE", None)
    result = run_nxc("build", "-f", "vm", cwd=project, env=env, timeout=3 * 3600)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((project / "build" / "composition::vm" / "manifest.json").read_text())
    assert set(manifest["compositions"]["composition"]["roles"]) == set(DEFAULT_COUNTS[name])


@pytest.mark.nixos
@pytest.mark.vm
@pytest.mark.parametrize("name", NAMES)
def test_nodes_form_and_mount_the_file_system_on_vms(name: str, tmp_path: Path) -> None:
    """Boots the default deployment (glusterfs 3 servers + 2 clients; cephfs 1 mon, 3 OSDs,
    1 MDS, 2 clients; beegfs 1 mgmt, 1 meta, 2 storage, 2 clients) on QEMU with a disk per node; the composition's test script only checks
    what the nodes formed by themselves (units done, volume/cluster up, a file written by one
    client read by the other). Needs Nix with network access to nixpkgs, and KVM in practice."""
    if shutil.which("nix") is None:
        pytest.skip("needs nix")
    project = tmp_path / name
    shutil.copytree(COMPOSITIONS / name, project)
    flake = project / "flake.nix"
    flake.write_text(flake.read_text().replace("NXC_URL", f"path:{REPO}"))
    env = dict(nix_environment())
    env.pop("NXC_NIX_OFFLINE", None)
    built = run_nxc("build", "-f", "vm", cwd=project, env=env, timeout=3 * 3600)
    assert built.returncode == 0, built.stderr
    report = tmp_path / "report.xml"
    started = run_nxc(
        "start", "-f", "vm", "-t", "--junit-xml", str(report),
        "--memory", "2G", "--disk-size", "12G", "--timeout", "1800",
        cwd=project, env=env, timeout=3600,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    assert 'failures="0"' in report.read_text()
