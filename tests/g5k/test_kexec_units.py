"""The kexec flavours' pieces that need no host VM: command lines, info delivery, the info
server (a real process), host sources, pushes once per content, the kexec script.

Pushes run through a stand-in for ``ssh`` (a script running the command in a local shell), as
the hosts are remote machines; everything else is the real code.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nxc import infoserver
from nxc.deployment import Deployment, DeploymentStore, Node
from nxc.deployment_info import build_info
from nxc.driver.deployment_backend import DeploymentNodeBackend
from nxc.errors import InputError, ManifestError, UnsupportedOperationError
from nxc.flavours.common import processes
from nxc.flavours.g5k import kexec
from nxc.flavours.g5k.hosts import HostSource
from nxc.flavours.g5k.image import ImageFlavour
from nxc.flavours.g5k.nfs_store import NfsStoreFlavour
from nxc.flavours.g5k.options import ImageOptions, KexecOptions, NfsStoreOptions
from nxc.flavours.g5k.ramdisk import KexecFlavour
from nxc.keys import generate_keypair
from nxc.manifest import Artefacts, Composition, Manifest, Role
from nxc.platforms.oar import OarRequest
from tests.g5k.conftest import manifest_with


def test_command_line_carries_info_inline_or_as_url_then_the_host_key_url():
    key_url = "http://h:1/t/host_key/n1"
    line = kexec.node_command_line("console=ttyS0", key_url, info=b'{"a":1}')
    assert line == f"console=ttyS0 nxc.info=eyJhIjoxfQ nxc.host_key_url={key_url}"
    url = kexec.node_command_line("", key_url, info_url="http://h:1/t/info.json")
    assert url == f"nxc.info_url=http://h:1/t/info.json nxc.host_key_url={key_url}"
    with pytest.raises(ValueError):
        kexec.node_command_line("", key_url)


def test_inline_while_it_fits_in_2048_bytes():
    assert kexec.fits("x" * 2047) and not kexec.fits("x" * 2048)
    key_url = "http://10.0.0.254:40000/" + "t" * 32 + "/host_key/n1"
    small = json.dumps({"nodes": [{"hostname": "n1", "address": "10.0.0.1"}]}).encode()
    big = json.dumps({"nodes": [{"hostname": f"n{i}", "address": "10.0.0.1"} for i in range(40)]})
    assert kexec.inline_fits("console=ttyS0", small, [key_url, key_url])
    assert not kexec.inline_fits("console=ttyS0", big.encode(), [key_url])


def _deployment(count: int, flavour: str = "g5k-ramdisk") -> Deployment:
    nodes = [
        Node(f"node{i}", "node", address=f"127.0.0.{i + 1}", ssh_host=f"127.0.0.{i + 1}")
        for i in range(count)
    ]
    return Deployment("composition", flavour, nodes=nodes)


def test_big_deployments_get_a_url_served_with_a_token_and_stopped_from_the_record(tmp_path):
    """60 nodes do not fit inline: a real info server serves the info; a new flavour object
    (as after a crash of nxc start) stops it from the record."""
    store = DeploymentStore(tmp_path / "deploy")
    deployment = _deployment(60)
    secret_dir = store.secret_dir(deployment.name) / "nodes"
    secret_dir.mkdir()
    deployment.resources = {"secret_dir": str(secret_dir)}
    flavour = KexecFlavour(KexecOptions(info_address="127.0.0.1"))
    info = build_info(deployment, store, manifest_with({"node": "/nix/store/x-node"}))
    host_keys = {node.hostname: generate_keypair("k").private_openssh for node in deployment.nodes}
    lines = flavour._command_lines(deployment, store, info, host_keys, "console=ttyS0")
    server = deployment.resources["info_server"]
    assert deployment.resources["info_delivery"] == "url"
    url = f"http://127.0.0.1:{server['port']}/{server['token']}/info.json"
    assert all(f"nxc.info_url={url} " in line for line in lines.values())
    with urllib.request.urlopen(url, timeout=5) as answer:
        assert json.loads(answer.read())["nodes"][59]["system"] == "/nix/store/x-node"
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/info.json", timeout=5)
    store.save(deployment)

    assert processes.is_ours(server["pid"], server["marker"])
    KexecFlavour().stop(store.load(deployment.name), store)
    assert not processes.is_ours(server["pid"], server["marker"])
    assert not secret_dir.exists()


def test_small_deployments_get_the_info_inline(tmp_path):
    store = DeploymentStore(tmp_path / "deploy")
    deployment = _deployment(3)
    secret_dir = store.secret_dir(deployment.name) / "nodes"
    secret_dir.mkdir()
    deployment.resources = {"secret_dir": str(secret_dir)}
    info = build_info(deployment, store, manifest_with({"node": ""}))
    host_keys = {node.hostname: generate_keypair("k").private_openssh for node in deployment.nodes}
    flavour = KexecFlavour(KexecOptions(info_address="127.0.0.1"))
    try:
        lines = flavour._command_lines(deployment, store, info, host_keys, "console=ttyS0")
    finally:
        flavour.stop(deployment, store, force=True)
    assert deployment.resources["info_delivery"] == "inline"
    assert all("nxc.info=" in line and "nxc.info_url" not in line for line in lines.values())
    assert "system" not in info["nodes"][0] and "shared_dir" not in info


def test_nfs_store_info_and_kernel_parameter():
    deployment = _deployment(2, "g5k-nfs-store")
    flavour = NfsStoreFlavour(
        NfsStoreOptions(nfs_server="172.16.0.1", nfs_export="/export/nix/store")
    )
    assert flavour.extra_info(deployment)["nix_store"]["server"] == "172.16.0.1"
    assert flavour.extra_params(deployment) == ["nxc.nfs_store=172.16.0.1:/export/nix/store"]
    facing = NfsStoreFlavour().extra_params(deployment)[0]
    assert facing == "nxc.nfs_store=127.0.0.1:/nix/store"


def test_host_sources_are_exclusive(tmp_path):
    with pytest.raises(InputError, match="oar_request and machine_file"):
        HostSource(oar_request=OarRequest("nodes=1"), machine_file=tmp_path / "f")
    with pytest.raises(InputError, match="wait_for_file waits"):
        HostSource(wait_for_file=True)
    with pytest.raises(InputError, match="retries -1"):
        KexecOptions(retries=-1)


def test_a_manifest_of_another_flavour_is_refused(tmp_path):
    (tmp_path / "k").write_text("k")
    manifest = Manifest(
        "vm",
        "x86_64-linux",
        (Composition("c", (Role("r", "/s"),), None, Artefacts(kernel="k", initrd="i")),),
    )
    with pytest.raises(ManifestError, match="built for flavour 'vm', not 'g5k-ramdisk'"):
        KexecFlavour().check_request(manifest, "c", ["r"])


@pytest.fixture
def local_shell(tmp_path: Path) -> kexec.HostShell:
    """A stand-in for ``ssh``: runs the remote command in a local ``sh`` (stdin passed on)."""
    fake = tmp_path / "fake-ssh"
    fake.write_text('#!/bin/sh\nfor last; do :; done\nexec sh -c "$last"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return kexec.HostShell("root", (), str(fake))


def test_artefacts_are_pushed_once_per_content(local_shell, tmp_path):
    kernel, initrd = tmp_path / "kernel", tmp_path / "initrd"
    kernel.write_bytes(b"kernel" * 1000)
    initrd.write_bytes(b"initrd" * 1000)
    files = {kexec.sha256_of(path): path for path in (kernel, initrd)}
    remote = str(tmp_path / "remote")
    assert kexec.push_artefacts(local_shell, "h", files, remote) == list(files)
    assert kexec.push_artefacts(local_shell, "h", files, remote) == []
    for digest, path in files.items():
        assert (Path(remote) / digest).read_bytes() == path.read_bytes()


def test_kexec_script_loads_with_the_command_line_then_executes_detached(local_shell, tmp_path):
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kexec").write_text(f'#!/bin/sh\nprintf "%s|" "$@" >> {calls}\necho >> {calls}\n')
    (bin_dir / "kexec").chmod(0o755)
    line = "console=ttyS0 nxc.info=abc'd nxc.host_key_url=http://h/x$y"
    script = kexec.kexec_script("/r/kernel", "/r/initrd", line)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-s"], input=script.encode(), env=env, check=True, timeout=10)
    for _ in range(50):
        if calls.exists() and len(calls.read_text().splitlines()) == 2:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    load, execute = calls.read_text().splitlines()
    assert load == f"-l|/r/kernel|--initrd=/r/initrd|--command-line={line}|"
    assert execute == "-e|"


@pytest.mark.parametrize("cls", [KexecFlavour, NfsStoreFlavour])
def test_reboot_is_refused_rather_than_leaving_the_host_in_its_own_system(tmp_path, cls):
    """A guest reboot after a kexec comes back in Grid'5000's standard environment: the
    driver's ``reboot()`` refuses, naming why, before touching the node (no transport used)."""
    store = DeploymentStore(tmp_path / "deploy")
    deployment = _deployment(1, cls.name)
    backend = DeploymentNodeBackend(deployment, store, cls(), None, "node0")
    with pytest.raises(UnsupportedOperationError, match="would boot the host's own system"):
        backend.reboot()


def test_info_server_takes_a_token_that_starts_with_a_dash(tmp_path, monkeypatch):
    """Tokens are random URL-safe text, and one in 64 starts with "-" (a CI run met one:
    the server took it for an option and never listened). The token is fixed here to that
    case; the server, its process and the HTTP answer are real."""
    dash_first = "-starts-with-a-dash-0123456789ab"
    monkeypatch.setattr(infoserver.secrets, "token_urlsafe", lambda _: dash_first)
    info_file = tmp_path / "info.json"
    info_file.write_text('{"version": 1}')
    server = infoserver.start_info_server(info_file, "127.0.0.1", tmp_path / "server.log")
    try:
        assert server.token.startswith("-")
        with urllib.request.urlopen(server.url, timeout=5) as answer:
            assert json.loads(answer.read()) == {"version": 1}
    finally:
        infoserver.stop_recorded(server.to_record())
    assert not processes.is_ours(server.pid, server.marker)


def test_info_server_token_is_in_no_command_line_and_required(tmp_path):
    """Any local user reads /proc/PID/cmdline: the running server's holds no part of the
    token (it came on stdin); a request without the token, or with another one, is refused;
    the recorded marker stops it. Real server process, real HTTP."""
    info_file = tmp_path / "info.json"
    info_file.write_text('{"version": 1}')
    server = infoserver.start_info_server(info_file, "127.0.0.1", tmp_path / "server.log")
    try:
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert server.marker.encode() in cmdline
        assert server.token[:6].encode() not in cmdline
        base = f"http://127.0.0.1:{server.port}"
        for path in ("/info.json", f"/{server.marker}/info.json", "/x" + server.url[len(base) :]):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=5)
            assert refused.value.code == 404
        with urllib.request.urlopen(server.url, timeout=5) as answer:
            assert json.loads(answer.read()) == {"version": 1}
    finally:
        infoserver.stop_recorded(server.to_record())
    assert not processes.is_ours(server.pid, server.marker)
    assert list(tmp_path.glob("infoserver-*")) == []


def test_a_server_recorded_before_the_marker_is_stopped_by_its_token(tmp_path):
    """Records of older nxc versions hold no marker: their server had the token in argv."""
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "--token=old-token-abc"],
        start_new_session=True,
    )
    try:
        for _ in range(100):  # a just-spawned child shows an empty cmdline until exec ends
            if processes.is_ours(sleeper.pid, "old-token-abc"):
                break
            time.sleep(0.05)
        infoserver.stop_recorded({"pid": sleeper.pid, "token": "old-token-abc"}, grace=2)
        assert sleeper.poll() is not None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_user_kernel_params_follow_the_flavours_own_then_nxc_s():
    """-k/--kernel-params: appended to the build's line and the flavour's own parameters,
    before nxc's per-node ones; nxc.* and control characters are refused in one line."""
    deployment = _deployment(1, "g5k-nfs-store")
    flavour = NfsStoreFlavour(
        NfsStoreOptions(nfs_server="10.0.0.9", kernel_params=["mitigations=off", "quiet"])
    )
    base = flavour.base_command_line("console=ttyS0", deployment)
    assert base == "console=ttyS0 nxc.nfs_store=10.0.0.9:/nix/store mitigations=off quiet"
    line = kexec.node_command_line(base, b"KEY", info=b"{}")
    assert line.startswith(f"{base} nxc.info=")
    assert KexecFlavour().base_command_line("", deployment) == ""
    image = ImageFlavour(
        ImageOptions(kernel_params=["quiet"])
    )  # its Kadeploy environments' kernel_params
    assert image.base_command_line("console=ttyS0", deployment) == "console=ttyS0 quiet"
    with pytest.raises(InputError, match=r"nxc\.\* parameters are nxc's own"):
        KexecOptions(kernel_params=["nxc.info=e30"])
    with pytest.raises(InputError, match="newline"):
        KexecOptions(kernel_params=["a\nb"])
