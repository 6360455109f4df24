"""Root file systems of the guest variants, assembled from unpacked Debian packages."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.testbed import kmod, libs
from tests.testbed.cpio import Tree
from tests.testbed.debs import LIBRARY_PACKAGE

GUEST = Path(__file__).parent / "guest"
# The NixOS modules' node scripts the guest runs as they are (the same file, not a copy).
NODE_SCRIPTS = Path(__file__).parents[2] / "nxc" / "nix" / "modules"
NODE_SCRIPT_NAMES = ("node-info.sh", "hosts-update.sh")
HOSTS_UPDATE = b"""#!/bin/sh
# nxc-hosts-update FILE: the deployment's new nodes list (NixOS: nxc's base module's package)
export NXC_NODE_INFO=/usr/lib/nxc/node-info.sh
exec /bin/sh /usr/lib/nxc/hosts-update.sh "$@"
"""
ACTIVATE = b"""#!/bin/sh
# nxc-activate: NixOS starts nxc-activate.target (modules/activation.nix); the test bed, which
# has no such units, records when nxc activated it.
date +%s > /run/nxc/activated
"""
MERGED_USR = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
MODULES = [
    "virtio_pci",
    "virtio_net",
    "e1000e",  # vm-ramdisk's other NIC model
    "virtio_blk",
    "virtio_rng",
    "9pnet_virtio",
    "9p",
    "qemu_fw_cfg",
    "crc32c_generic",
    "ext4",
]
# Loaded by node-setup only when the kernel command line names an NFS store (nxc.nfs_store=).
NFS_MODULES = ["nfsv3"]
SSH_PACKAGES = ["openssh-server", "openssh-sftp-server", "openssh-client"]
# fio is left out: Debian's build links Ceph and GlusterFS (80 MB of libraries), too big for a
# 128 MB guest whose root lives in RAM.
TOOL_PACKAGES = ["busybox-static", "libc6", "jq", "kexec-tools"]
# (package, path inside it) of every program copied into the guest with its libraries.
PROGRAMS = [
    ("openssh-server", "usr/sbin/sshd"),
    ("openssh-sftp-server", "usr/lib/openssh/sftp-server"),
    ("openssh-client", "usr/bin/ssh"),
    ("openssh-client", "usr/bin/scp"),
    ("openssh-client", "usr/bin/ssh-keygen"),
    ("kexec-tools", "sbin/kexec"),
    ("jq", "usr/bin/jq"),
]
PASSWD = """root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd privilege separation:/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
GROUP = "root:x:0:\nnogroup:x:65534:\n"
SHADOW = "root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"


def merged_path(relative: str) -> str:
    """Where a packaged path lives in a merged-/usr root."""
    top, _, rest = relative.partition("/")
    return f"{MERGED_USR[top]}/{rest}" if top in MERGED_USR else relative


def base_layout(tree: Tree) -> None:
    """Folders, merged-/usr links, device nodes and accounts every variant has."""
    for link, target in MERGED_USR.items():
        tree.symlink(link, target)
    for folder in ("proc", "sys", "dev", "run", "etc", "var/log", "usr/bin", "usr/sbin"):
        tree.directory(folder)
    tree.directory("tmp", 0o1777)
    tree.directory("root", 0o700)
    tree.char_device("dev/console", 5, 1)
    tree.char_device("dev/null", 1, 3, 0o666)
    tree.file("etc/passwd", PASSWD.encode())
    tree.file("etc/group", GROUP.encode())
    tree.file("etc/shadow", SHADOW.encode(), 0o600)
    tree.file("etc/ssh/sshd_config", (GUEST / "sshd_config").read_bytes())
    tree.symlink("usr/lib/sftp-server", "openssh/sftp-server")


def add_busybox(tree: Tree, busybox_root: Path) -> None:
    """The static busybox and a link for each of its applets (existing files win)."""
    binary = busybox_root / "bin" / "busybox"
    tree.copy("usr/bin/busybox", binary, 0o755)
    listing = subprocess.run(
        [str(binary), "--list-full"], capture_output=True, text=True, check=True
    ).stdout
    for applet in listing.split():
        dest = "/" + merged_path(applet)
        if dest not in tree.entries:
            tree.symlink(dest, "/usr/bin/busybox")


def add_programs(tree: Tree, unpacked: dict[str, Path], programs: list[tuple[str, str]]) -> None:
    """Copy ``programs`` and every shared library they load (found in the unpacked debs)."""
    roots = list(unpacked.values())
    dirs = libs.library_dirs(roots)
    loader = libs.find_loader(roots)
    needed: dict[str, Path] = {}
    for package, relative in programs:
        source = unpacked[package] / relative
        tree.copy(merged_path(relative), source, 0o755)
        needed.update(libs.needed_libraries(source, loader, dirs))
    lib_dir = f"usr/lib/{libs.MULTIARCH}"
    for soname, path in sorted(needed.items()):
        tree.copy(f"{lib_dir}/{soname}", path.resolve(), 0o755)
    tree.copy(f"{lib_dir}/ld-linux-x86-64.so.2", loader.resolve(), 0o755)
    tree.symlink("usr/lib64/ld-linux-x86-64.so.2", f"../lib/{libs.MULTIARCH}/ld-linux-x86-64.so.2")


def add_nxc_scripts(tree: Tree, modules_dir: Path) -> None:
    """The node-contract scripts and the kernel modules they load, in insmod order."""
    for name in ("node-setup", "udhcpc.script", "boot"):
        tree.copy(f"usr/lib/nxc/{name}", GUEST / name, 0o755)
    for name in ("console.sh", "select.jq"):
        tree.copy(f"usr/lib/nxc/{name}", GUEST / name, 0o644)
    for name in NODE_SCRIPT_NAMES:
        tree.copy(f"usr/lib/nxc/{name}", NODE_SCRIPTS / name, 0o644)
    tree.file("usr/bin/nxc-hosts-update", HOSTS_UPDATE, 0o755)
    tree.file("usr/bin/nxc-activate", ACTIVATE, 0o755)
    order = kmod.load_order(modules_dir, MODULES)
    for name, data in order:
        tree.file(f"usr/lib/nxc/modules/{name}.ko", data)
    tree.file("usr/lib/nxc/modules.order", "".join(f"{n}\n" for n, _ in order).encode())


def add_nfs_client(tree: Tree, modules_dir: Path) -> None:
    """The NFSv3 client modules (not loaded at boot) that mount ``nxc.nfs_store=`` stores."""
    loaded = {name for name, _ in kmod.load_order(modules_dir, MODULES)}
    order = [(n, d) for n, d in kmod.load_order(modules_dir, NFS_MODULES) if n not in loaded]
    for name, data in order:
        tree.file(f"usr/lib/nxc/modules/{name}.ko", data)
    tree.file("usr/lib/nxc/nfs-modules.order", "".join(f"{n}\n" for n, _ in order).encode())


def make_busybox(unpacked: dict[str, Path], modules_dir: Path) -> Tree:
    """The busybox variant: busybox init runs the node contract, then sshd."""
    tree = Tree()
    base_layout(tree)
    add_busybox(tree, unpacked["busybox-static"])
    add_programs(tree, unpacked, PROGRAMS)
    add_nxc_scripts(tree, modules_dir)
    add_nfs_client(tree, modules_dir)
    tree.file("etc/inittab", (GUEST / "inittab").read_bytes())
    tree.symlink("init", "/usr/bin/busybox")
    return tree


@dataclass(frozen=True)
class Variant:
    """A guest flavour: the root packages it needs and how its tree is made."""

    packages: list[str]
    make: Callable[[dict[str, Path], Path], Tree]


VARIANTS: dict[str, Variant] = {
    "busybox": Variant(TOOL_PACKAGES + SSH_PACKAGES, make_busybox),
}


SKIPPED_FOLDERS = ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info")
SYSTEMD_UNITS = ("nxc-setup.service", "sshd.service", "nxc-ready.service")
MASKED_UNITS = ("serial-getty@.service", "getty@.service", "systemd-firstboot.service")


def make_systemd(unpacked: dict[str, Path], modules_dir: Path) -> Tree:
    """The systemd variant: systemd is PID 1; units run the contract, sshd, readiness line."""
    tree = Tree()
    base_layout(tree)
    add_busybox(tree, unpacked["busybox-static"])
    for name, root in sorted(unpacked.items()):
        if name == "systemd" or LIBRARY_PACKAGE.match(name):
            tree.add_tree(root, MERGED_USR)
    for key in [k for k in tree.entries if k.lstrip("/").startswith(SKIPPED_FOLDERS)]:
        del tree.entries[key]
    add_programs(tree, unpacked, PROGRAMS)
    add_nxc_scripts(tree, modules_dir)
    units = "etc/systemd/system"
    for unit in SYSTEMD_UNITS:
        tree.copy(f"{units}/{unit}", GUEST / "systemd" / unit, 0o644)
        tree.symlink(f"{units}/multi-user.target.wants/{unit}", f"../{unit}")
    for unit in MASKED_UNITS:
        tree.symlink(f"{units}/{unit}", "/dev/null")
    tree.symlink(f"{units}/default.target", "/usr/lib/systemd/system/multi-user.target")
    tree.file("etc/machine-id", b"")
    tree.file("etc/os-release", b'NAME="nxc test bed"\nID=debian\nVERSION_ID="12"\n')
    tree.copy("init", GUEST / "init-systemd", 0o755)
    return tree


VARIANTS["systemd"] = Variant([*TOOL_PACKAGES, *SSH_PACKAGES, "systemd"], make_systemd)
