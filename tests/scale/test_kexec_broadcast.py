"""The kexec flavour's boot files go out through the TakTuk tree: 16 namespace hosts with real
sshd, the flavour's own allocate → prepare → launch steps.

Every host must hold the exact bytes, this machine must send them about twice (not 16 times),
and each host must be asked to kexec them with its own command line. ``kexec`` itself is a
stand-in bound over ``/usr/sbin/kexec`` in each host's mount namespace, recording its
arguments: the namespace hosts share this machine's kernel, so the real one would load (and
``kexec -e`` boot) a kernel into this machine.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.flavours.base import StartRun
from nxc.flavours.g5k import kexec
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.g5k.options import KexecOptions
from nxc.flavours.g5k.ramdisk import KexecFlavour
from nxc.keys import generate_keypair
from nxc.manifest import Artefacts, Composition, Manifest, Role
from tests.scale.lab import BroadcastLab

pytestmark = pytest.mark.taktuk

KEXEC = "/usr/sbin/kexec"
CALLS = "kexec.calls"


@pytest.fixture
def kexec_standin(lab: BroadcastLab) -> Iterator[BroadcastLab]:
    """Every host's sshd restarted with the recording ``kexec`` in place of the real one
    (kept outside this machine's ``/tmp``, which each host replaces with its own)."""
    standin = lab.shared / "kexec"
    standin.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> /tmp/{CALLS}\n')
    standin.chmod(0o755)

    def restart(binds: dict[Path, str]) -> None:
        for host in lab.hosts:
            host.kill()
            host.start_sshd(binds={lab.tmp_of(host): "/tmp", **binds})
        for host in lab.hosts:
            host.wait_listening()

    restart({standin: KEXEC})
    try:
        yield lab
    finally:
        restart({})
        standin.unlink()


def test_launch_broadcasts_the_boot_files_then_kexecs_every_host(
    kexec_standin: BroadcastLab, tmp_path: Path
) -> None:
    lab = kexec_standin
    kernel, initrd = tmp_path / "bzImage", tmp_path / "initrd"
    kernel.write_bytes(os.urandom(64 << 10))
    initrd.write_bytes(os.urandom(6 << 20))
    artefacts = Artefacts(kernel=str(kernel), initrd=str(initrd), cmdline="console=ttyS0")
    roles = (Role("node", "/nix/store/x-node", 16),)
    manifest = Manifest(
        "g5k-ramdisk", "x86_64-linux", (Composition("c", roles, artefacts=artefacts),)
    )
    machine_file = tmp_path / "hosts"
    machine_file.write_text("".join(f"{address}\n" for address in lab.addresses))
    nodes = [Node(f"node{i}", "node", address="", ssh_host="") for i in range(1, 17)]
    deployment = Deployment("c", "g5k-ramdisk", nodes=nodes)
    store = DeploymentStore(tmp_path / "deploy")
    flavour = KexecFlavour(
        KexecOptions(
            hosts=HostSource(machine_file=machine_file, check_with_oar=False),
            host_ssh_options=lab.shell().options,
            relay_ssh_options=lab.relay_options,
            info_address="127.0.0.1",
        )
    )
    run = StartRun(deployment, store, manifest)
    try:
        flavour.allocate(run)
        run.host_keys = {n.hostname: generate_keypair(n.hostname).private_openssh for n in nodes}
        run.info = flavour.deployment_info(deployment, store, manifest)
        flavour.prepare(run)
        before = lab.sent_bytes()
        failures = flavour.launch(run, deployment.nodes)
        sent = lab.sent_bytes() - before
    finally:
        flavour.stop(deployment, store, force=True)

    assert failures == {}
    assert deployment.resources["push"].startswith("16 host(s) through the tree, 0 directly")
    total = kernel.stat().st_size + initrd.stat().st_size
    assert sent < 2.5 * total, f"sent {sent / total:.2f}x the boot files"
    digests = {kexec.sha256_of(path): path for path in (kernel, initrd)}
    by_address = {node.ssh_host: node for node in deployment.nodes}
    for host in lab.hosts:
        folder = lab.remote_dir(host)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for digest in digests:
            copy = folder / digest
            assert not copy.is_symlink() and kexec.sha256_of(copy) == digest
        calls = (lab.tmp_of(host) / CALLS).read_text().splitlines()
        node = by_address[host.address]
        load, execute = calls
        assert load.startswith(f"-l {kexec.remote_path(kexec.sha256_of(kernel))} ")
        assert f"--initrd={kexec.remote_path(kexec.sha256_of(initrd))}" in load
        assert f"/host_key/{node.hostname} " in f"{load} " and "console=ttyS0" in load
        assert execute == "-e"
