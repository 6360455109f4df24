"""A kexec'd node's private host key on a real test-bed node: fetched once from the info
server, on no command line, readable by root only (test-bed VMs standing for Grid'5000 hosts,
a real info server, real SSH; nothing mocked)."""

from __future__ import annotations

import shlex
import urllib.error
import urllib.request

import pytest

from nxc.deploy import start_deployment, stop_deployment
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.g5k.kexec import b64url
from tests.g5k.conftest import kexec_manifest, two_node_plan
from tests.g5k.test_kexec_deploy import flavour, on_node

pytestmark = pytest.mark.vm

KEY = "/etc/ssh/ssh_host_ed25519_key"


def test_the_host_key_is_fetched_once_and_only_root_can_read_it(
    lab, testbed_guest, store, tmp_path
):
    machine_file = tmp_path / "nodes"
    machine_file.write_text("\n".join(lab.hosts[:2]) + "\n")
    hosts = HostSource(machine_file=machine_file, check_with_oar=False)
    kexec_flavour = flavour(lab, hosts=hosts, kernel_params=["nxc_test.extra=1"])
    deployment = start_deployment(
        store, kexec_manifest(testbed_guest), two_node_plan(), kexec_flavour
    )
    try:
        server = deployment.resources["info_server"]
        for node in deployment.nodes:
            private = kexec_flavour._host_keys[node.hostname]

            def run(command: str, hostname: str = node.hostname) -> str:
                return on_node(store, deployment, hostname, command)

            cmdline = run("cat /proc/cmdline")
            url = (
                f"http://{lab.gateway}:{server['port']}/{server['token']}/host_key/{node.hostname}"
            )
            assert f"nxc.host_key_url={url}" in cmdline.split()
            assert "nxc_test.extra=1" in cmdline.split(), "-k/--kernel-params reach kexec"
            assert "nxc.host_key=" not in cmdline
            body = b"".join(private.splitlines()[1:-1]).decode()
            assert body[:40] not in cmdline and b64url(private)[:40] not in cmdline
            assert run(f"stat -c '%a %U %G' {KEY}").split() == ["600", "root", "root"]
            as_nobody = run(f"su nobody -s /bin/sh -c 'cat {KEY}' 2>&1; echo status=$?")
            assert "Permission denied" in as_nobody and "status=0" not in as_nobody
            assert "PRIVATE KEY" not in as_nobody
            assert run("su nobody -s /bin/sh -c 'cat /proc/cmdline'") == cmdline
            # sshd presents the pinned key (on_node checks it), and it is the one fetched
            assert run(f"ssh-keygen -y -f {KEY}").split()[:2] == node.host_key.split()[:2]
            again = run(f"wget -q -O /tmp/again {shlex.quote(url)} 2>&1; echo status=$?")
            assert "410" in again and "status=0" not in again, "a second fetch is refused"
            peer = next(n for n in deployment.nodes if n is not node).hostname
            stolen = run(f"wget -q -O /tmp/peer {shlex.quote(url)} 2>&1; echo status=$?", peer)
            assert "403" in stolen, "another node may not fetch this one's key"
            with pytest.raises(urllib.error.HTTPError) as from_here:
                urllib.request.urlopen(url, timeout=5)
            assert from_here.value.code == 403
    finally:
        stop_deployment(store, deployment.name)
