"""The flavour modules (nxc/nix/flavours/*.nix) evaluated by real Nix, their scripts run.

nixpkgs cannot be had here, so tests/fixtures/flavourmodules/eval.nix calls each module as the
function it is with stand-ins for NixOS's `lib`, `pkgs` and `config` (a mock, for nixpkgs only):
the tests read the settings the module gives NixOS and run the shell it hands to stage 1, stage 2
and the image builder, against files they create. That NixOS accepts the settings is proven by
tests/nix/test_nixos_flavours.py where Nix has network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.nix.conftest import NIX_LIBRARY, REPO, nix_environment

pytestmark = pytest.mark.nix

EVAL = REPO / "tests" / "fixtures" / "flavourmodules" / "eval.nix"


def evaluate(flavour: str, **args: Any) -> dict[str, Any]:
    """The attribute set ``nxc/nix/flavours/<flavour>.nix`` returns, as JSON."""
    argv = ["nix-instantiate", "--eval", "--strict", "--json", str(EVAL)]
    argv += ["--arg", "module", str(NIX_LIBRARY / "flavours" / f"{flavour}.nix")]
    for name, value in args.items():
        argv += ["--arg", name, json.dumps(value)]
    result = subprocess.run(
        argv, capture_output=True, text=True, env=nix_environment(), check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def run_stage_script(script: str, cmdline: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a stage-1/stage-2 snippet in busybox sh with /proc/cmdline and /dev/root in tmp_path."""
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    script = script.replace("/proc/cmdline", str(tmp_path / "cmdline"))
    script = script.replace("/dev/root", str(tmp_path / "root"))
    return subprocess.run(
        ["/bin/busybox", "sh", "-eu", "-c", script],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_docker_sshd_is_a_service_not_socket_activated(requires_nix):
    """container-config.nix defaults startWhenNeeded to true; nxc-ready requires sshd.service."""
    module = evaluate("docker")
    assert module["boot"]["isContainer"] is True
    # a plain value: above container-config.nix's mkDefault, like docker-image.nix's
    assert module["services"]["openssh"]["startWhenNeeded"] is False


def test_vm_store_is_a_writable_overlay_on_the_shared_store(requires_nix):
    systems = evaluate("vm")["fileSystems"]
    shared = systems["/nix/.ro-store"]
    assert (shared["device"], shared["fsType"], shared["neededForBoot"]) == ("nixstore", "9p", True)
    # 9p's msize must fit the kernel's virtio transport (about 500 KiB)
    (msize,) = [o for o in shared["options"] if o.startswith("msize=")]
    assert 16384 <= int(msize.removeprefix("msize=")) <= 500 * 1024
    assert systems["/nix/.rw-store"]["fsType"] == "tmpfs"
    assert systems["/nix/.rw-store"]["neededForBoot"] is True
    store = systems["/nix/store"]
    assert store["overlay"] == {
        "lowerdir": ["/nix/.ro-store"],
        "upperdir": "/nix/.rw-store/upper",
        "workdir": "/nix/.rw-store/work",
    }
    assert store["neededForBoot"] is True


@pytest.mark.parametrize("flavour", ["vm", "g5k-nfs-store"])
def test_flavours_on_a_shared_store_register_it(requires_nix, flavour: str):
    """Both flavours whose store is another machine's import the registration module."""
    imports = evaluate(flavour)["imports"]
    assert any(str(path).endswith("store-registration.nix") for path in imports), imports


def test_nodes_register_the_role_systems_closure(requires_nix, tmp_path: Path):
    """The boot system puts the registration on the command line; stage 2 loads it."""
    nix_package = tmp_path / "nix"
    (nix_package / "bin").mkdir(parents=True)
    loader = nix_package / "bin" / "nix-store"
    loader.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/loaded\n')
    loader.chmod(0o755)
    closure = tmp_path / "closure"
    closure.mkdir()
    (closure / "registration").write_text("/nix/store/aaaa-role\n")

    boot = evaluate(
        "store-registration",
        roleSystems=["/r1"], closure=str(closure), nixPackage=str(nix_package),
    )  # fmt: skip
    params = boot["boot"]["kernelParams"]
    assert params["condition"] is True
    assert params["content"] == [f"nxc.reg_info={closure}/registration"]
    # role systems: no role systems of their own to register
    assert evaluate("store-registration")["boot"]["kernelParams"]["condition"] is False

    load = boot["boot"]["postBootCommands"]
    assert load["condition"] is True
    result = run_stage_script(
        load["content"], f"init=/x console=ttyS0 {params['content'][0]} quiet", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "args").read_text().split() == ["--load-db"]
    assert (tmp_path / "loaded").read_text() == "/nix/store/aaaa-role\n"


MOUNT_LOGGER = """
mount() {{ echo "mount $*" >> {log}; case " $* " in *" {fail} "*) return 1 ;; esac; }}
targetRoot={root}
"""
"""Stage 1's `mount` replaced by a shell function logging its arguments and failing for the
word ``fail`` (busybox sh runs functions before applets)."""


def _nfs_store_stage1(tmp_path: Path, fail: str) -> tuple[subprocess.CompletedProcess[str], list]:
    script = evaluate("g5k-nfs-store")["boot"]["initrd"]["postMountCommands"]
    log, root = tmp_path / "mounts", tmp_path / "mnt-root"
    prelude = MOUNT_LOGGER.format(log=log, fail=fail or "no-such-word", root=root)
    result = run_stage_script(
        prelude + script, "init=/x nxc.nfs_store=10.0.0.1:/nix/store console=ttyS0", tmp_path
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_nfs_store_stage1_makes_a_writable_overlay_on_the_nfs_store(requires_nix, tmp_path):
    result, calls = _nfs_store_stage1(tmp_path, "")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "mnt-root"
    assert calls == [
        f"mount -t nfs -o ro,nolock,vers=3 10.0.0.1:/nix/store {root}/nix/.ro-store",
        f"mount -t tmpfs -o mode=0755 tmpfs {root}/nix/.rw-store",
        f"mount -t overlay -o lowerdir={root}/nix/.ro-store,upperdir={root}/nix/.rw-store/upper,"
        f"workdir={root}/nix/.rw-store/work overlay {root}/nix/store",
    ]
    assert (root / "nix" / ".rw-store" / "upper").is_dir()
    assert (root / "nix" / ".rw-store" / "work").is_dir()
    assert "nxc-error" not in result.stdout


def test_nfs_store_stage1_falls_back_to_the_read_only_store(requires_nix, tmp_path):
    """No overlay (say, a kernel without it): the NFS store is bound on /nix/store, said."""
    result, calls = _nfs_store_stage1(tmp_path, "overlay")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "mnt-root"
    assert calls[-1] == f"mount --bind {root}/nix/.ro-store {root}/nix/store"
    assert "nxc-error: no writable overlay on the store" in result.stdout


def test_nfs_store_stage1_reports_an_unreachable_store(requires_nix, tmp_path):
    result, calls = _nfs_store_stage1(tmp_path, "nfs")
    assert result.returncode == 0, result.stderr
    assert len(calls) == 1  # nothing mounted over a store that is not there
    assert "nxc-error: cannot mount the store 10.0.0.1:/nix/store" in result.stdout


def test_g5k_image_mounts_the_root_kadeploy_names(requires_nix):
    root = evaluate("g5k-image")["fileSystems"]["/"]
    # stage-1-init.sh links /dev/root to root= given as a path, UUID= or LABEL=
    assert root == {"device": "/dev/root", "fsType": "ext4"}


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("root=PARTUUID=0a1b-03", "/dev/disk/by-partuuid/0a1b-03"),
        ("root=PARTLABEL=deploy", "/dev/disk/by-partlabel/deploy"),
    ],
)
def test_g5k_image_stage1_resolves_the_forms_stage1_leaves_dangling(
    requires_nix, tmp_path: Path, given: str, target: str
):
    script = evaluate("g5k-image")["boot"]["initrd"]["postDeviceCommands"]
    # what stage-1-init.sh made of it: a link to the bare word
    (tmp_path / "root").symlink_to(given.split("=")[1])
    result = run_stage_script(script, f"init=/boot/init {given} console=ttyS0", tmp_path)
    assert result.returncode == 0, result.stderr
    assert os.readlink(tmp_path / "root") == target


def test_g5k_image_stage1_leaves_path_and_uuid_roots_to_stage1(requires_nix, tmp_path: Path):
    script = evaluate("g5k-image")["boot"]["initrd"]["postDeviceCommands"]
    (tmp_path / "root").symlink_to("/dev/disk/by-uuid/1234")
    result = run_stage_script(script, "root=UUID=1234", tmp_path)
    assert result.returncode == 0, result.stderr
    assert os.readlink(tmp_path / "root") == "/dev/disk/by-uuid/1234"
    (tmp_path / "root").unlink()
    missing = run_stage_script(script, "init=/boot/init", tmp_path)
    assert "no root= on the kernel command line" in missing.stderr


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar needed to run the image builder")
def test_g5k_image_boot_files_are_regular_files(requires_nix, tmp_path: Path):
    """The image builder's own script, run here, ships copies, never links into /nix/store."""
    real = tmp_path / "real"
    real.mkdir()
    for name, content in (("bzImage", "kernel"), ("initrd", "initrd"), ("init", "#!/bin/sh\n")):
        (real / name).write_text(content)
    for folder, name in (("kernel", "bzImage"), ("initrd", "initrd"), ("toplevel", "init")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).symlink_to(real / name)  # store outputs are often links
    closure = tmp_path / "closure"
    closure.mkdir()
    (closure / "registration").write_text("registration\n")
    (closure / "store-paths").write_text(f"{real}\n")
    image = evaluate(
        "g5k-image",
        kernel=str(tmp_path / "kernel"),
        initrd=str(tmp_path / "initrd"),
        toplevel=str(tmp_path / "toplevel"),
        closure=str(closure),
    )["system"]["build"]["nxcImage"]
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir()
    built = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", image["script"]],
        cwd=work, env={**os.environ, "out": str(out)},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    with tarfile.open(out / "nxc-g5k-image.tar.gz") as tar:
        for name, content in (
            ("bzImage", b"kernel"),
            ("initrd", b"initrd"),
            ("init", b"#!/bin/sh\n"),
        ):
            member = tar.getmember(f"boot/{name}")
            assert member.isreg(), f"boot/{name} is not a regular file"
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == content
    assert "kernel: /boot/bzImage" in (out / "kaenv.yaml").read_text()
