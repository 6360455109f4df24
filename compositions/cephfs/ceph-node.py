#!/usr/bin/env python3
"""CephFS bootstrap of one node, from the nxc deployment info (docs/node-contract.md).

    ceph-node.py mon      monitor (+ manager); the first `mon` of the info also makes the keys,
                          serves them to the deployment's nodes and creates the file system
    ceph-node.py osd      one BlueStore OSD (`ceph osd new`) on this node's disk or a file
    ceph-node.py mds      a metadata server
    ceph-node.py client   mounts the file system (kernel client, else ceph-fuse)
    ceph-node.py serve    the key server alone (what `mon` starts on the first monitor)

Run by the composition's systemd units on NixOS and, unchanged, by tests/storage on this
machine's namespace hosts. Daemons are started detached (Ceph daemons fork by default) and
stay in the caller's unit. Identity comes from /run/nxc: monitor, manager and MDS ids are the
node's hostname, mon_host lists the `mon` nodes' addresses, the fsid is derived from the node
list, OSD ids are what `ceph osd new` gives. Pools keep min(3, OSDs) copies.

Keys: none is in the store or the image. The first monitor generates the cluster's keyrings
at boot and serves them over HTTP (port 6780) only to the addresses of the deployment info;
the other nodes fetch them from it. That trusts the deployment's network, as Ceph's own
public network does; every node of a deployment is root-accessible to its owner anyway.

Settings (environment): NXC_RUN (/run/nxc), CEPH_DEVICE (a block device for the OSD, or
"none"; unset: the partition labelled KDPL_TMP_disk0, else a blank unused /dev/vda),
CEPH_OSD_FILE_SIZE (10G: the sparse file used without a device, never on tmpfs unless
NXC_STORAGE_ALLOW_RAM=1), CEPH_CLIENT (auto | kernel | fuse), CEPH_MOUNT (/mnt/fs),
CEPH_MGR_MODULE_PATH (written as mgr_module_path when set), CEPH_TIMEOUT (540 s).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

RUN = Path(os.environ.get("NXC_RUN", "/run/nxc"))
CONF = Path("/etc/ceph/ceph.conf")
ADMIN_KEYRING = Path("/etc/ceph/ceph.client.admin.keyring")
LIB = Path("/var/lib/ceph")
SERVED = LIB / "nxc-keys"
PORT = 6780
TIMEOUT = float(os.environ.get("CEPH_TIMEOUT", "540"))
MOUNT = os.environ.get("CEPH_MOUNT", "/mnt/fs")
FS_NAME = "cephfs"


class Failure(Exception):
    """What went wrong, in one line."""


def say(message: str) -> None:
    print(f"ceph-node: {message}", flush=True)


def run(*argv: str, input: str | None = None) -> str:
    """Run a command; raise Failure with its output when it fails."""
    try:
        done = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
    except OSError as error:
        raise Failure(f"cannot run {argv[0]}: {error}") from None
    if done.returncode != 0:
        raise Failure(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def detach(*argv: str) -> None:
    """Start a daemon with no ties to our output (it forks or runs on by itself)."""
    subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait(what: str, check, timeout: float = TIMEOUT):
    """Call ``check`` until it returns something true; raise Failure after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (Failure, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > end:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(2)


def ceph(*args: str, input: str | None = None) -> str:
    """The ceph CLI as client.admin (this node's ceph.conf and admin keyring)."""
    return run("ceph", "--connect-timeout", "10", *args, input=input)


class Deployment:
    """The deployment info, and what Ceph needs from it."""

    def __init__(self) -> None:
        try:
            self.info = json.loads((RUN / "info.json").read_text())
            self.me = json.loads((RUN / "self.json").read_text())
        except (OSError, ValueError) as error:
            raise Failure(f"no readable deployment info in {RUN}: {error}") from None
        self.nodes = self.info["nodes"]
        self.hostname: str = self.me["hostname"]
        self.address: str = self.me["address"]

    def role(self, role: str) -> list[dict]:
        return [node for node in self.nodes if node.get("role") == role]

    @property
    def monitors(self) -> list[dict]:
        monitors = self.role("mon")
        if not monitors:
            raise Failure("no node of role 'mon' in the deployment info")
        return monitors

    @property
    def fsid(self) -> str:
        """The same UUID on every node: derived from the deployment's node list."""
        nodes = json.dumps([[n["hostname"], n["address"]] for n in self.nodes])
        return str(uuid.UUID(hashlib.sha256(nodes.encode()).hexdigest()[:32]))

    @property
    def pool_size(self) -> int:
        return max(1, min(3, len(self.role("osd"))))

    def mon_addrs(self, node: dict) -> str:
        return f"[v2:{node['address']}:3300,v1:{node['address']}:6789]"

    def write_conf(self) -> None:
        size = self.pool_size
        lines = [
            "[global]",
            f"fsid = {self.fsid}",
            f"mon_initial_members = {','.join(m['hostname'] for m in self.monitors)}",
            f"mon_host = {','.join(self.mon_addrs(m) for m in self.monitors)}",
            f"public_addr = {self.address}",
            "auth_cluster_required = cephx",
            "auth_service_required = cephx",
            "auth_client_required = cephx",
            "auth_allow_insecure_global_id_reclaim = false",
            f"osd_pool_default_size = {size}",
            f"osd_pool_default_min_size = {max(1, size - 1)}",
            "mon_allow_pool_size_one = true",
            "mon_allow_pool_delete = true",
            # Ceph refuses less than 896 MiB; its 4 GiB default does not fit small nodes
            "osd_memory_target = 1073741824",
            f"bluestore_block_size = {os.environ.get('CEPH_OSD_FILE_SIZE', '10G')}",
        ]
        if os.environ.get("CEPH_MGR_MODULE_PATH"):
            lines.append(f"mgr_module_path = {os.environ['CEPH_MGR_MODULE_PATH']}")
        # nixpkgs' services.ceph (not used) would make these with systemd.tmpfiles
        for folder in (CONF.parent, Path("/var/log/ceph"), Path("/run/ceph")):
            folder.mkdir(parents=True, exist_ok=True)
        CONF.write_text("\n".join(lines) + "\n")


# --- keys -------------------------------------------------------------------------------------


def make_keys(deployment: Deployment) -> None:
    """First monitor: the mon. and client.admin keyrings, once."""
    SERVED.mkdir(mode=0o700, parents=True, exist_ok=True)
    mon_keyring = SERVED / "ceph.mon.keyring"
    if mon_keyring.exists():
        return
    run("ceph-authtool", "--create-keyring", f"{ADMIN_KEYRING}.new", "--gen-key",
        "-n", "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *",
        "--cap", "mds", "allow *", "--cap", "mgr", "allow *")  # fmt: skip
    run("ceph-authtool", "--create-keyring", f"{mon_keyring}.new", "--gen-key",
        "-n", "mon.", "--cap", "mon", "allow *")  # fmt: skip
    run("ceph-authtool", f"{mon_keyring}.new", "--import-keyring", f"{ADMIN_KEYRING}.new")
    (SERVED / "ceph.client.admin.keyring").write_bytes(Path(f"{ADMIN_KEYRING}.new").read_bytes())
    os.replace(f"{ADMIN_KEYRING}.new", ADMIN_KEYRING)
    os.replace(f"{mon_keyring}.new", mon_keyring)


class KeyHandler(http.server.BaseHTTPRequestHandler):
    """GET /<keyring> for the deployment's nodes only."""

    allowed: frozenset[str] = frozenset()

    def do_GET(self) -> None:
        name = self.path.lstrip("/")
        path = SERVED / name
        if self.client_address[0] not in self.allowed or "/" in name or not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        say(f"key server: {self.client_address[0]} {format % args}")


def serve(deployment: Deployment) -> None:
    KeyHandler.allowed = frozenset(n["address"] for n in deployment.nodes)
    server = http.server.ThreadingHTTPServer((deployment.address, PORT), KeyHandler)
    server.serve_forever()


def key_server_up(address: str) -> bool:
    with socket.create_connection((address, PORT), timeout=2):
        return True


def fetch(deployment: Deployment, name: str, target: Path) -> None:
    """A keyring from the first monitor's key server (waits for it)."""
    first = deployment.monitors[0]["address"]

    def get() -> bytes:
        with urllib.request.urlopen(f"http://{first}:{PORT}/{name}", timeout=5) as response:
            return response.read()

    body = wait(f"the key server on {first}", get)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    target.chmod(0o600)


def admin(deployment: Deployment) -> None:
    """This node's ceph.conf and the admin keyring, then wait for a monitor quorum."""
    deployment.write_conf()
    if not ADMIN_KEYRING.exists():
        fetch(deployment, "ceph.client.admin.keyring", ADMIN_KEYRING)
    wait("a monitor quorum", lambda: ceph("quorum_status"))


# --- roles ------------------------------------------------------------------------------------


def mon(deployment: Deployment) -> None:
    monitors = deployment.monitors
    ident = deployment.hostname
    if ident not in [m["hostname"] for m in monitors]:
        raise Failure(f"{ident} is not a node of role 'mon'")
    first = monitors[0]["hostname"] == ident
    deployment.write_conf()
    data = LIB / "mon" / f"ceph-{ident}"
    if first:
        make_keys(deployment)
        detach(sys.executable, os.path.abspath(__file__), "serve")
        wait("the key server", lambda: key_server_up(deployment.address), 30)
        keyring = SERVED / "ceph.mon.keyring"
    else:
        keyring = Path("/run/ceph-nxc-mon.keyring")
        fetch(deployment, "ceph.mon.keyring", keyring)
        if not ADMIN_KEYRING.exists():
            fetch(deployment, "ceph.client.admin.keyring", ADMIN_KEYRING)
    if not (data / "done").exists():
        monmap = Path("/run/ceph-nxc-monmap")
        addvs = [
            arg for m in monitors for arg in ("--addv", m["hostname"], deployment.mon_addrs(m))
        ]
        run("monmaptool", "--create", "--clobber", "--fsid", deployment.fsid, *addvs, str(monmap))
        data.mkdir(parents=True, exist_ok=True)
        run("ceph-mon", "--mkfs", "-i", ident, "--monmap", str(monmap), "--keyring", str(keyring))
        (data / "done").touch()
    detach("ceph-mon", "-i", ident)
    wait("a monitor quorum", lambda: ceph("quorum_status"))
    say(f"mon.{ident} in quorum")

    mgr_data = LIB / "mgr" / f"ceph-{ident}"
    mgr_data.mkdir(parents=True, exist_ok=True)
    if not (mgr_data / "keyring").exists():
        key = ceph("auth", "get-or-create", f"mgr.{ident}", "mon", "allow profile mgr",
                   "osd", "allow *", "mds", "allow *")  # fmt: skip
        (mgr_data / "keyring").write_text(key)
    detach("ceph-mgr", "-i", ident)

    if first and FS_NAME not in ceph("fs", "ls", "--format", "json"):
        ceph("osd", "pool", "create", "cephfs_metadata", "16")
        ceph("osd", "pool", "create", "cephfs_data", "32")
        ceph("fs", "new", FS_NAME, "cephfs_metadata", "cephfs_data")
        say(f"file system {FS_NAME} created (pools of {deployment.pool_size} copies)")
    wait(f"file system {FS_NAME}", lambda: FS_NAME in ceph("fs", "ls", "--format", "json"))


def osd_device() -> str | None:
    """The block device for this node's OSD, if there is one to use."""
    chosen = os.environ.get("CEPH_DEVICE", "")
    if chosen == "none":
        return None
    if chosen:
        return chosen
    for label in ("/dev/disk/by-label/KDPL_TMP_disk0", "/dev/disk/by-partlabel/KDPL_TMP_disk0"):
        if os.path.exists(label):
            return os.path.realpath(label)
    vda = Path("/dev/vda")
    if vda.is_block_device() and not any(Path("/sys/block/vda").glob("vda[0-9]*")):
        mounted = subprocess.run(["findmnt", "-rn", "-S", str(vda)], capture_output=True)
        signature = subprocess.run(
            ["blkid", "-p", "-o", "value", "-s", "TYPE", str(vda)], capture_output=True, text=True
        )
        if mounted.returncode != 0 and not signature.stdout.strip():
            return str(vda)
    return None


def osd(deployment: Deployment) -> None:
    device = osd_device()
    (LIB / "osd").mkdir(parents=True, exist_ok=True)
    kind = run("stat", "-f", "-c", "%T", str(LIB / "osd")).strip()
    if device is None and kind in ("tmpfs", "ramfs"):
        if os.environ.get("NXC_STORAGE_ALLOW_RAM") != "1":
            raise Failure(
                f"no disk for the OSD and {LIB / 'osd'} is on {kind} (RAM): give the node a "
                "disk (vm: --disk-size) or set NXC_STORAGE_ALLOW_RAM=1"
            )
        say(f"warning: OSD in RAM ({LIB / 'osd'} is {kind}), as NXC_STORAGE_ALLOW_RAM asks")
    admin(deployment)
    existing = sorted((LIB / "osd").glob("ceph-*/ready"))
    if existing:
        ident = existing[0].parent.name.removeprefix("ceph-")
    else:
        osd_uuid = str(uuid.uuid4())
        secret = run("ceph-authtool", "--gen-print-key").strip()
        ident = ceph("osd", "new", osd_uuid, "-i", "-",
                     input=json.dumps({"cephx_secret": secret})).strip()  # fmt: skip
        data = LIB / "osd" / f"ceph-{ident}"
        data.mkdir(parents=True, exist_ok=True)
        if device is not None:
            (data / "block").symlink_to(device)
            say(f"osd.{ident}: BlueStore on {device}")
        else:
            say(f"osd.{ident}: BlueStore on a sparse file in {data} ({kind}, no disk)")
        (data / "type").write_text("bluestore\n")
        run("ceph-authtool", "--create-keyring", str(data / "keyring"),
            "--name", f"osd.{ident}", "--add-key", secret)  # fmt: skip
        run("ceph-osd", "-i", ident, "--mkfs", "--osd-uuid", osd_uuid)
        (data / "ready").touch()
    detach("ceph-osd", "-i", ident)

    def up() -> bool:
        dump = json.loads(ceph("osd", "dump", "--format", "json"))
        return any(o["osd"] == int(ident) and o["up"] for o in dump["osds"])

    wait(f"osd.{ident} up", up)
    say(f"osd.{ident} up")


def mds(deployment: Deployment) -> None:
    admin(deployment)
    ident = deployment.hostname
    data = LIB / "mds" / f"ceph-{ident}"
    data.mkdir(parents=True, exist_ok=True)
    if not (data / "keyring").exists():
        key = ceph("auth", "get-or-create", f"mds.{ident}", "mon", "allow profile mds",
                   "mgr", "allow profile mds", "mds", "allow *", "osd", "allow *")  # fmt: skip
        (data / "keyring").write_text(key)
    detach("ceph-mds", "-i", ident)
    wait(f"mds.{ident} in the MDS map", lambda: ident in ceph("fs", "dump", "--format", "json"))
    wait(f"an active MDS for {FS_NAME}", lambda: fs_active())
    say(f"mds.{ident} up")


def fs_active() -> bool:
    """Whether the file system has an active MDS."""
    dump = json.loads(ceph("fs", "dump", "--format", "json"))
    return any(
        info["state"] == "up:active"
        for fs in dump["filesystems"]
        for info in fs["mdsmap"]["info"].values()
    )


def kernel_has_ceph() -> bool:
    if "ceph" not in Path("/proc/filesystems").read_text().split():
        try:
            run("modprobe", "ceph")
        except Failure:
            return False
    return "ceph" in Path("/proc/filesystems").read_text().split()


def client(deployment: Deployment) -> None:
    admin(deployment)
    osds = len(deployment.role("osd"))

    def osds_up() -> bool:
        return json.loads(ceph("osd", "stat", "--format", "json"))["num_up_osds"] >= osds

    wait(f"{osds} OSDs up", osds_up)
    wait(f"an active MDS for {FS_NAME}", fs_active)
    name = deployment.hostname
    keyring = Path(f"/etc/ceph/ceph.client.{name}.keyring")
    if not keyring.exists():
        keyring.write_text(ceph("fs", "authorize", FS_NAME, f"client.{name}", "/", "rw"))
        keyring.chmod(0o600)
    Path(MOUNT).mkdir(parents=True, exist_ok=True)
    if subprocess.run(["findmnt", "-rn", "-M", MOUNT], capture_output=True).returncode == 0:
        say(f"{MOUNT} already mounted")
        return
    choice = os.environ.get("CEPH_CLIENT", "auto")
    if choice == "kernel" or (choice == "auto" and kernel_has_ceph()):
        secret = Path(f"/etc/ceph/client.{name}.secret")
        secret.write_text(ceph("auth", "get-key", f"client.{name}").strip() + "\n")
        secret.chmod(0o600)
        monitors = ",".join(f"{m['address']}:6789" for m in deployment.monitors)
        if shutil.which("mount.ceph"):
            run("mount.ceph", f"{monitors}:/", MOUNT, "-o", f"name={name},secretfile={secret}")
        else:  # mount(8) without Ceph's helper: the kernel takes the key itself
            key = secret.read_text().strip()
            run("mount", "-t", "ceph", f"{monitors}:/", MOUNT, "-o", f"name={name},secret={key}")
        say(f"{FS_NAME} mounted on {MOUNT} (kernel client)")
    elif choice in ("auto", "fuse"):
        run("ceph-fuse", "-n", f"client.{name}", MOUNT)
        say(f"{FS_NAME} mounted on {MOUNT} (ceph-fuse: this kernel has no ceph client)")
    else:
        raise Failure(f"CEPH_CLIENT={choice!r}: write auto, kernel or fuse")


ROLES = {"mon": mon, "osd": osd, "mds": mds, "client": client, "serve": serve}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ROLES:
        print(f"usage: ceph-node.py {'|'.join(ROLES)}", file=sys.stderr)
        return 2
    try:
        ROLES[argv[1]](Deployment())
    except Failure as error:
        print(f"ceph-node: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
