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


def test_vm_nodes_register_the_role_systems_closure(requires_nix, tmp_path: Path):
    """The boot system puts the registration on the command line; stage 2 loads it."""
    nix_package = tmp_path / "nix"
    (nix_package / "bin").mkdir(parents=True)
    loader = nix_package / "bin" / "nix-store"
    loader.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat > {tmp_path}/loaded\n')
    loader.chmod(0o755)
    closure = tmp_path / "closure"
    closure.mkdir()
    (closure / "registration").write_text("/nix/store/aaaa-role\n")

    boot = evaluate("vm", roleSystems=["/r1"], closure=str(closure), nixPackage=str(nix_package))
    params = boot["boot"]["kernelParams"]
    assert params["condition"] is True
    assert params["content"] == [f"nxc.reg_info={closure}/registration"]
    assert evaluate("vm")["boot"]["kernelParams"]["condition"] is False  # role systems

    load = boot["boot"]["postBootCommands"]
    assert load["condition"] is True
    result = run_stage_script(
        load["content"], f"init=/x console=ttyS0 {params['content'][0]} quiet", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "args").read_text().split() == ["--load-db"]
    assert (tmp_path / "loaded").read_text() == "/nix/store/aaaa-role\n"


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
