"""The kexec flavours end to end: real OAR (``-t deploy``) over test-bed VMs standing for hosts.

The hosts are QEMU (TCG) VMs booted by the fixtures in their "standard environment"; a
deployment reserves them through the real OAR server of the stand-in (or reads a machine file),
pushes the test-bed guest's kernel and initrd (the composition's), kexecs them, and waits for
the nodes to answer SSH with their new pinned host keys. Nothing is mocked. This machine's
kernel has no ``nfsd``: for ``g5k-nfs-store`` the ``nfs_store`` fixture exports its
``/nix/store`` with NFS-Ganesha, a user-space NFS server, on the hosts' bridge, and the nodes
mount it read-only over NFSv3 as the frontend's store.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from nxc import keys
from nxc.deploy import start_deployment, stop_deployment
from nxc.deployment import DeploymentState
from nxc.errors import MachineFileError, NodeTimeoutError, OarJobError, ResourceLimitError
from nxc.flavours.base import Stage
from nxc.flavours.common import processes
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.g5k.nfs_store import NfsStoreFlavour
from nxc.flavours.g5k.ramdisk import KexecFlavour
from nxc.platforms.oar import Oar, OarRequest
from tests.g5k.conftest import VM_PROPERTIES, kexec_manifest, two_node_plan

pytestmark = [pytest.mark.vm, pytest.mark.oar]

READY_TIMEOUT = 150.0
JOB_WAIT = 180.0
"""OAR schedules slowly on a loaded 2-core machine."""


def on_node(store, deployment, hostname: str, command: str) -> str:
    """Run ``command`` on a node over SSH with the deployment's key and pinned host key."""
    argv = keys.ssh_argv(
        deployment.node(hostname),
        store.client_key_path(deployment.name),
        store.known_hosts_path(deployment.name),
        command,
        batch=True,
    )
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def wait_ended(oar: Oar, job_id: int, timeout: float = 30.0) -> None:
    """oardel is asynchronous: wait until OAR says the job is over."""
    deadline = time.monotonic() + timeout
    while not oar.job_info(job_id).ended:
        assert time.monotonic() < deadline, f"OAR job {job_id} still not over after oardel"
        time.sleep(0.5)


def request(standin, nodes: int) -> OarRequest:
    return OarRequest(
        f"nodes={nodes}",
        walltime="0:30:00",
        job_types=("deploy",),
        properties=VM_PROPERTIES,
        directory=str(standin.user_dir("job")),
    )


def flavour(lab, cls=KexecFlavour, **options) -> KexecFlavour:
    options.setdefault("timeout", READY_TIMEOUT)
    return cls(cls.options_type(host_ssh_options=lab.ssh_options(), **options))


def test_ramdisk_reserves_kexecs_and_releases(lab, g5k_oar, testbed_guest, store):
    """--oar: a new deploy job; two nodes on two of three hosts; roles, names, pinned keys."""
    hosts = HostSource(
        oar_request=request(g5k_oar, 3), frontend=g5k_oar.frontend, wait_timeout=JOB_WAIT
    )
    stages = []
    deployment = start_deployment(
        store,
        kexec_manifest(testbed_guest),
        two_node_plan(),
        flavour(lab, hosts=hosts),
        progress=lambda host, stage: stages.append((host, stage)),
    )
    resources = deployment.resources
    assert resources["oar"]["created_by_nxc"] is True
    assert sorted([*resources["hosts"], *resources["unused_hosts"]]) == lab.hosts
    assert len(resources["unused_hosts"]) == 1
    assert resources["info_delivery"] == "inline"
    assert {(h, s) for h, s in stages} >= {("server", Stage.READY), ("client", Stage.READY)}
    for node in deployment.nodes:
        assert node.ssh_host in resources["hosts"]
        self_entry = json.loads(on_node(store, deployment, node.hostname, "cat /run/nxc/self.json"))
        assert self_entry["role"] == node.role
        assert on_node(store, deployment, node.hostname, "hostname").strip() == node.hostname
        assert "nxc.info=" in on_node(store, deployment, node.hostname, "cat /proc/cmdline")
    peers = on_node(store, deployment, "client", "cat /etc/hosts")
    assert f"{deployment.node('server').address} server" in peers
    oar = Oar(g5k_oar.frontend)
    job_id = resources["oar"]["oar_job_id"]
    assert oar.job_state(job_id) == "Running"
    assert store.load(deployment.name).state == DeploymentState.running

    stopped = stop_deployment(store, deployment.name)
    assert stopped.state == DeploymentState.stopped
    wait_ended(oar, job_id)


def test_nfs_store_with_info_over_http_on_an_existing_job(lab, g5k_oar, testbed_guest, store):
    """--oar-job: the user's job is used and kept; the info comes from nxc's HTTP server."""
    oar = Oar(g5k_oar.frontend)
    job = oar.reserve(request(g5k_oar, 2))
    oar.wait_running(job, timeout=60)
    hosts = HostSource(oar_job=job.job_id, frontend=g5k_oar.frontend, wait_timeout=JOB_WAIT)
    deployment = start_deployment(
        store,
        kexec_manifest(testbed_guest, "g5k-nfs-store"),
        two_node_plan("g5k-nfs-store"),
        flavour(lab, NfsStoreFlavour, hosts=hosts, info_delivery="url"),
    )
    server = deployment.resources["info_server"]
    assert server["address"] == lab.gateway
    cmdline = on_node(store, deployment, "server", "cat /proc/cmdline")
    assert f"nxc.info_url=http://{lab.gateway}:{server['port']}/{server['token']}/" in cmdline
    assert f"nxc.nfs_store={lab.gateway}:/nix/store" in cmdline
    info = json.loads(on_node(store, deployment, "client", "cat /run/nxc/info.json"))
    assert info["nix_store"] == {
        "type": "nfs",
        "server": lab.gateway,
        "export": "/nix/store",
        "options": "ro,nolock,vers=3",
    }
    with pytest.raises(urllib.error.HTTPError) as wrong_token:
        urllib.request.urlopen(f"http://{lab.gateway}:{server['port']}/x/info.json", timeout=5)
    assert wrong_token.value.code == 404

    stop_deployment(store, deployment.name)
    assert not processes.is_ours(server["pid"], server["marker"])
    assert oar.job_state(job.job_id) == "Running", "a job the user reserved must be kept"
    oar.release(dataclasses.replace(job, created_by_nxc=True))  # its name and owner kept


def test_nfs_store_is_mounted_read_only_from_the_frontend(
    lab, testbed_guest, store, nfs_store, tmp_path
):
    """The nodes mount this machine's /nix/store (NFS-Ganesha on the bridge) over NFSv3."""
    machine_file = tmp_path / "nodes"
    machine_file.write_text("\n".join(lab.hosts[:2]) + "\n")
    hosts = HostSource(machine_file=machine_file, check_with_oar=False)
    deployment = start_deployment(
        store,
        kexec_manifest(testbed_guest, "g5k-nfs-store"),
        two_node_plan("g5k-nfs-store"),
        flavour(lab, NfsStoreFlavour, hosts=hosts),
    )
    expected = sorted(path.name for path in nfs_store.iterdir())
    for node in deployment.nodes:
        mounts = on_node(store, deployment, node.hostname, "cat /proc/mounts").splitlines()
        entry = next(line.split() for line in mounts if line.split()[1] == "/nix/store")
        assert entry[:3] == [f"{lab.gateway}:/nix/store", "/nix/store", "nfs"]
        assert {"ro", "vers=3", "nolock"} <= set(entry[3].split(","))
        listing = on_node(store, deployment, node.hostname, "ls -1A /nix/store")
        assert sorted(listing.split()) == expected
        refused = on_node(
            store, deployment, node.hostname, "mkdir /nix/store/written 2>&1 || echo refused"
        )
        assert "Read-only file system" in refused and "refused" in refused
    stop_deployment(store, deployment.name)


def test_node_that_does_not_come_back_is_kexeced_again(lab, testbed_guest, store, tmp_path):
    """--retries 1: only the node whose first kexec did nothing is kexec'd again."""
    machine_file = tmp_path / "nodes"
    machine_file.write_text("\n".join(lab.hosts[:2]) + "\n")
    lab.break_kexec(lab.hosts[1], working_after=2)
    hosts = HostSource(machine_file=machine_file, check_with_oar=False)
    deployment = start_deployment(
        store,
        kexec_manifest(testbed_guest),
        two_node_plan(),
        flavour(lab, hosts=hosts, retries=1, timeout=45.0),
    )
    assert deployment.state == DeploymentState.running
    assert on_node(store, deployment, "client", "hostname").strip() == "client"
    stop_deployment(store, deployment.name)


def test_node_that_never_comes_back_is_named(lab, testbed_guest, store, tmp_path):
    machine_file = tmp_path / "nodes"
    machine_file.write_text(lab.hosts[2] + "\n")
    lab.break_kexec(lab.hosts[2])
    hosts = HostSource(machine_file=machine_file, check_with_oar=False)
    plan = two_node_plan()
    plan = type(plan)(plan.composition, plan.flavour, plan.nodes[:1])
    started = time.monotonic()
    with pytest.raises(NodeTimeoutError) as failure:
        start_deployment(
            store,
            kexec_manifest(testbed_guest),
            plan,
            flavour(lab, hosts=hosts, retries=1, timeout=15.0),
        )
    assert failure.value.missing == ["server"]
    assert "server" in str(failure.value) and "2 attempt(s)" in str(failure.value)
    assert lab.kexec_calls(lab.hosts[2]).count("-l") == 2
    assert time.monotonic() - started < 120
    assert store.load("composition::g5k-ramdisk").state == DeploymentState.failed


def test_min_nodes_goes_on_without_a_host_that_never_comes_back(
    lab, testbed_guest, store, tmp_path
):
    """--min-nodes 1 of 2: the broken host is set aside with why (retries of such a host:
    test_node_that_never_comes_back_is_named); the deployment runs on the other, which is all
    the driver and nxc run see."""
    machine_file = tmp_path / "nodes"
    machine_file.write_text(f"{lab.hosts[0]}\n{lab.hosts[2]}\n")
    lab.break_kexec(lab.hosts[2])
    hosts = HostSource(machine_file=machine_file, check_with_oar=False)
    plan = dataclasses.replace(two_node_plan(), min_nodes=1)
    deployment = start_deployment(
        store,
        kexec_manifest(testbed_guest),
        plan,
        flavour(lab, hosts=hosts, timeout=90.0),  # time for the good host's TCG boot
    )
    try:
        assert [node.hostname for node in deployment.nodes] == ["server"]
        record = store.load(deployment.name)
        assert record.state is DeploymentState.running
        [failed] = record.failed_nodes
        assert failed.hostname == "client" and "no SSH answer" in (failed.failure or "")
        assert on_node(store, record, "server", "hostname").strip() == "server"
        (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")  # the store's project
        status = subprocess.run(
            [sys.executable, "-m", "nxc", "-d", str(tmp_path), "status", deployment.name],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert "failed: client (client): no SSH answer" in status.stdout, status
    finally:
        stop_deployment(store, deployment.name)
    assert store.load(deployment.name).state is DeploymentState.stopped


def test_oar_job_deleted_mid_deployment_is_reported(lab, g5k_oar, testbed_guest, store):
    for host in lab.hosts:
        lab.break_kexec(host)
    hosts = HostSource(
        oar_request=request(g5k_oar, 2), frontend=g5k_oar.frontend, wait_timeout=JOB_WAIT
    )

    def delete_when_launched(hostname: str, stage: Stage) -> None:
        if stage is Stage.LAUNCHED and hostname == "server":
            job_id = store.load("composition::g5k-ramdisk").resources["oar"]["oar_job_id"]
            subprocess.run(
                [*g5k_oar.frontend.wrapper, "oardel", str(job_id)], capture_output=True, cwd="/"
            )

    with pytest.raises(OarJobError, match="was deleted or failed during the deployment"):
        start_deployment(
            store,
            kexec_manifest(testbed_guest),
            two_node_plan(),
            flavour(lab, hosts=hosts, timeout=120.0),
            progress=delete_when_launched,
        )
    deployment = store.load("composition::g5k-ramdisk")
    assert deployment.state == DeploymentState.failed
    wait_ended(Oar(g5k_oar.frontend), deployment.resources["oar"]["oar_job_id"])


def test_nodefile_with_unknown_hosts_is_refused(lab, g5k_oar, testbed_guest, store, tmp_path):
    machine_file = tmp_path / "nodes"
    machine_file.write_text(f"{lab.hosts[0]}\n10.215.0.77\n")
    hosts = HostSource(machine_file=machine_file)
    with pytest.raises(MachineFileError, match=r"unknown to OAR.*10\.215\.0\.77"):
        start_deployment(
            store, kexec_manifest(testbed_guest), two_node_plan(), flavour(lab, hosts=hosts)
        )
    assert lab.run(lab.hosts[0], "hostname").strip() == "host-1", "nothing may boot"


def test_fewer_hosts_than_nodes_is_refused_before_anything_boots(
    lab, testbed_guest, store, tmp_path
):
    machine_file = tmp_path / "nodes"
    machine_file.write_text(lab.hosts[0] + "\n")
    hosts = HostSource(machine_file=machine_file, check_with_oar=False)
    with pytest.raises(ResourceLimitError, match=r"gives 1 host.*plans 2 node"):
        start_deployment(
            store, kexec_manifest(testbed_guest), two_node_plan(), flavour(lab, hosts=hosts)
        )
    assert lab.run(lab.hosts[0], "ls /tmp/nxc-kexec 2>/dev/null | wc -l").strip() == "0"
