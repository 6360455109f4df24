"""The command-line flag that sets each library option an error message may name.

Library errors name options by their library name (``timeout``, ``retries``, ``machine_file``:
see :meth:`nxc.errors.NxcError.naming`); the CLI prints them with these flags instead.
"""

from __future__ import annotations

FLAGS: dict[str, str] = {
    # the vm flavours
    "accel": "--accel",
    "memory": "--memory",
    "cpus": "--cpus",
    "forwards": "--forward",
    "disk_size": "--disk-size",
    "qemu_options": "--qemu-opts",
    # every flavour booting a kernel, every flavour
    "kernel_params": "-k/--kernel-params",
    "timeout": "--timeout",
    # the Grid'5000 flavours' hosts
    "retries": "--retries",
    "max_concurrency": "--max-concurrency",
    "oar_request": "--oar",
    "oar_job": "--oar-job",
    "oar_types": "--oar-type",
    "oar_properties": "--oar-properties",
    "machine_file": "-m",
    "wait_for_file": "-W",
    "site": "--site",
    "ssh": "--ssh",
    "ssh_config": "--ssh-config",
    "nfs_server": "--nfs-server",
    # nxc start: what it does
    "test_script": "-t/--test-script",
    "interactive": "-I/--interactive",
    "foreground": "--foreground",
    "junit_xml": "--junit-xml",
    "add": "--add",
    "repair": "--repair",
    "dry_run": "--dry-run",
    "composition": "-C",
    # choosing what to work on
    "flavour": "-f/--flavour",
    "manifest": "--manifest",
    "roles": "-r",
    "tag": "--tag",
    "parameters": "-p/--parameter",
    "min_nodes": "--min-nodes",
    "name": "--name",
    "envdir": "-d/--envdir",
    "geometry": "--geometry",
    # nxc init
    "template": "-t/--template",
    "ci": "--ci",
    "nxc_url": "--nxc-url",
}
"""Library option name → the flag ``nxc`` spells it with."""
