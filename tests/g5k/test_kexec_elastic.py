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


def test_nodes_added_on_free_hosts_of_the_job_and_removed(
    lab, g5k_oar, testbed_guest, store, tmp_path
):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest_module.to_dict(kexec_manifest(testbed_guest))))
    built = manifest_module.load(path)
    hosts = HostSource(
        oar_request=request(g5k_oar, 3), frontend=g5k_oar.frontend, wait_timeout=JOB_WAIT
    )
    deployment = start_deployment(store, built, two_node_plan(), flavour(lab, hosts=hosts))
    job_id = deployment.resources["oar"]["oar_job_id"]
    (free,) = deployment.resources["unused_hosts"]

    grown = add_nodes(
        store, deployment.name, parse_role_options(["client=1"]), flavour=flavour(lab)
    )
    assert grown.added == ("client2",)
    assert grown.announcement.told == ("server", "client")
    record = store.load(deployment.name)
    assert record.node("client2").ssh_host == free and record.resources["unused_hosts"] == []
    for hostname in ("server", "client", "client2"):
        assert hosts_file(store, record, hostname) == ["server", "client", "client2"]
    assert on_node(store, record, "client2", "hostname").strip() == "client2"
    with pytest.raises(ResourceLimitError, match="not on a new job yet"):
        add_nodes(store, deployment.name, parse_role_options(["client=1"]), flavour=flavour(lab))

    client_host = record.node("client").ssh_host
    shrunk = remove_nodes(store, deployment.name, ["client"])
    assert shrunk.removed == ("client",)
    record = store.load(deployment.name)
    assert [node.hostname for node in record.nodes] == ["server", "client2"]
    assert record.resources["unused_hosts"] == [client_host]
    for hostname in ("server", "client2"):
        assert hosts_file(store, record, hostname) == ["server", "client2"]
    deadline = time.monotonic() + 60
    while lab.processes[client_host].poll() is None:  # rebooted: QEMU's -no-reboot exits
        assert time.monotonic() < deadline, f"{client_host} was not rebooted"
        time.sleep(0.5)
    lab.reset([client_host])  # its firmware boots the host's own system

    again = add_nodes(
        store, deployment.name, parse_role_options(["client=1"]), flavour=flavour(lab)
    )
    assert again.added == ("client3",)
    record = store.load(deployment.name)
    assert record.node("client3").ssh_host == client_host
    assert hosts_file(store, record, "server") == ["server", "client2", "client3"]
    assert Oar(g5k_oar.frontend).job_state(job_id) == "Running"  # one job throughout

    stop_deployment(store, deployment.name)
    wait_ended(Oar(g5k_oar.frontend), job_id)
