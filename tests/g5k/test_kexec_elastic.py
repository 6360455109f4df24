"""A living g5k-ramdisk deployment: nodes added on the free hosts of its OAR job and removed,
over real OAR (``-t deploy``) and test-bed VMs standing for hosts (see test_kexec_deploy.py).

A removed node's host is rebooted into its own system. The lab's host VMs run QEMU with
``-no-reboot`` (a reboot powers them off), so the test powers the host on again, as a
Grid'5000 host's firmware would boot its standard environment.
"""

from __future__ import annotations

import json
import time

import pytest

from nxc import manifest as manifest_module
from nxc.deploy import start_deployment, stop_deployment
from nxc.errors import ResourceLimitError
from nxc.flavours.g5k.hosts import HostSource
from nxc.platforms.oar import Oar
from nxc.resize import add_nodes, remove_nodes
from nxc.roles import parse_role_options
from tests.g5k.conftest import kexec_manifest, two_node_plan
from tests.g5k.test_kexec_deploy import JOB_WAIT, flavour, on_node, request, wait_ended

pytestmark = [pytest.mark.vm, pytest.mark.oar]


def hosts_file(store, deployment, hostname: str) -> list[str]:
    text = on_node(store, deployment, hostname, "cat /etc/hosts")
    return [line.split()[1] for line in text.splitlines() if "localhost" not in line]


def rebooted(lab, host: str) -> None:
    """Wait until ``host``'s QEMU exits (``-no-reboot``), then boot its own system again."""
    deadline = time.monotonic() + 60
    while lab.processes[host].poll() is None:
        assert time.monotonic() < deadline, f"{host} was not rebooted"
        time.sleep(0.5)
    lab.reset([host])


def test_nodes_added_on_a_new_job_or_free_hosts_and_removed(
    lab, g5k_oar, testbed_guest, store, tmp_path
):
    """Two nodes on a job of two hosts; one added on a new job (then released with its
    node), one on the host a removed node gave back; every node's /etc/hosts follows."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest_module.to_dict(kexec_manifest(testbed_guest))))
    built = manifest_module.load(path)
    oar = Oar(g5k_oar.frontend)
    hosts = HostSource(
        oar_request=request(g5k_oar, 2), frontend=g5k_oar.frontend, wait_timeout=JOB_WAIT
    )
    deployment = start_deployment(store, built, two_node_plan(), flavour(lab, hosts=hosts))
    try:
        job_id = deployment.resources["oar"]["oar_job_id"]
        assert deployment.resources["unused_hosts"] == []
        one_client = parse_role_options(["client=1"])
        with pytest.raises(ResourceLimitError, match="reserve hosts for them with"):
            add_nodes(store, deployment.name, one_client, flavour=flavour(lab))
        assert [n.hostname for n in store.load(deployment.name).nodes] == ["server", "client"]

        new_job = HostSource(
            oar_request=request(g5k_oar, 1), frontend=g5k_oar.frontend, wait_timeout=JOB_WAIT
        )
        grown = add_nodes(store, deployment.name, one_client, flavour=flavour(lab, hosts=new_job))
        assert grown.added == ("client2",) and grown.phases["platform"] > 0
        assert grown.announcement.told == ("server", "client")
        record = store.load(deployment.name)
        (added_job,) = record.resources["added_jobs"]
        assert added_job["hosts"] == [record.node("client2").ssh_host]
        for hostname in ("server", "client", "client2"):
            assert hosts_file(store, record, hostname) == ["server", "client", "client2"]
        assert on_node(store, record, "client2", "hostname").strip() == "client2"

        client_host = record.node("client").ssh_host
        shrunk = remove_nodes(store, deployment.name, ["client"])
        assert shrunk.removed == ("client",)
        record = store.load(deployment.name)
        assert record.resources["unused_hosts"] == [client_host]
        for hostname in ("server", "client2"):
            assert hosts_file(store, record, hostname) == ["server", "client2"]
        rebooted(lab, client_host)  # its firmware boots the host's own system

        remove_nodes(store, deployment.name, ["client2"])
        wait_ended(oar, added_job["oar_job_id"])  # nxc's job for it, now unused, released
        record = store.load(deployment.name)
        assert record.resources["added_jobs"] == [] and record.resources["unused_hosts"] == [
            client_host
        ]
        assert hosts_file(store, record, "server") == ["server"]
        rebooted(lab, added_job["hosts"][0])

        # no client left: numbered from 1 again, on the host the removed client gave back
        again = add_nodes(store, deployment.name, one_client, flavour=flavour(lab))
        assert again.added == ("client1",) and "platform" not in again.phases
        record = store.load(deployment.name)
        assert record.node("client1").ssh_host == client_host
        assert hosts_file(store, record, "server") == ["server", "client1"]
        assert oar.job_state(job_id) == "Running"

    finally:
        stop_deployment(store, deployment.name)  # also when an assertion failed
    wait_ended(oar, job_id)
