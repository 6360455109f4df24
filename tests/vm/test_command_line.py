"""QEMU command lines, memory checks and option parsing of the vm flavour."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.cli.flags import FLAGS
from nxc.errors import InputError, ResourceLimitError
from nxc.flavours.vm import qemu
from nxc.flavours.vm.flavour import check_memory, kernel_append
from nxc.flavours.vm.options import Forward, parse_forward


def node(**changes: object) -> qemu.QemuNode:
    values: dict[str, object] = {
        "hostname": "node1",
        "kernel": Path("/k/bzImage"),
        "initrd": Path("/k/initrd"),
        "append": "console=ttyS0 init=/init",
        "memory_mib": 256,
        "cpus": 2,
        "accel": "tcg",
        "info_file": Path("/s/info.json"),
        "host_key_file": Path("/s/node1.host_key"),
        "console_log": Path("/s/logs/node1.console.log"),
        "qmp_socket": Path("/tmp/nxc-abc/node1.qmp"),
        "switch_dir": Path("/tmp/nxc-abc/switch"),
        "mac": "52:54:00:05:00:01",
        "ssh_port": 22001,
        "marker": "nxc-abc",
        "shared_dir": Path("/s/shared"),
    }
    values.update(changes)
    return qemu.QemuNode(**values)  # type: ignore[arg-type]


def option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


def test_command_line_follows_the_node_contract() -> None:
    argv = qemu.command_line("/usr/bin/qemu-system-x86_64", node())
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert option_values(argv, "-accel") == ["tcg,tb-size=64"]
    assert option_values(argv, "-m") == ["256M"]
    assert option_values(argv, "-smp") == ["2"]
    assert option_values(argv, "-kernel") == ["/k/bzImage"]
    assert option_values(argv, "-initrd") == ["/k/initrd"]
    assert option_values(argv, "-append") == ["console=ttyS0 init=/init"]
    assert option_values(argv, "-fw_cfg") == [
        "name=opt/nxc/info,file=/s/info.json",
        "name=opt/nxc/host_key,file=/s/node1.host_key",
    ]
    virtfs = option_values(argv, "-virtfs")
    assert "local,path=/nix/store,mount_tag=nixstore,security_model=none,readonly=on" in virtfs
    assert "local,path=/s/shared,mount_tag=nxcshared,security_model=none" in virtfs
    netdevs = option_values(argv, "-netdev")
    assert "vde,id=lan,sock=/tmp/nxc-abc/switch" in netdevs
    assert "user,id=ctl,restrict=on,hostfwd=tcp:127.0.0.1:22001-:22" in netdevs
    assert "virtio-net-pci,netdev=lan,mac=52:54:00:05:00:01" in option_values(argv, "-device")
    assert option_values(argv, "-qmp") == ["unix:/tmp/nxc-abc/node1.qmp,server=on,wait=off"]
    assert "file,id=console,path=/s/logs/node1.console.log" in option_values(argv, "-chardev")
    assert any("nxc-abc" in arg for arg in option_values(argv, "-name"))
    assert "-drive" not in argv


def test_kvm_forwards_disk_and_commas() -> None:
    argv = qemu.command_line(
        "qemu",
        node(
            accel="kvm",
            forwards=((28080, 8080),),
            disk=Path("/s/disks/node1.qcow2"),
            shared_dir=Path("/odd,dir"),
        ),
    )
    assert option_values(argv, "-accel") == ["kvm"]
    assert option_values(argv, "-cpu") == ["host"]
    assert (
        "user,id=ctl,restrict=on,hostfwd=tcp:127.0.0.1:22001-:22,"
        "hostfwd=tcp:127.0.0.1:28080-:8080" in option_values(argv, "-netdev")
    )
    assert option_values(argv, "-drive") == ["file=/s/disks/node1.qcow2,if=virtio,format=qcow2"]
    assert "local,path=/odd,,dir,mount_tag=nxcshared,security_model=none" in option_values(
        argv, "-virtfs"
    )


def test_memory_sizes() -> None:
    assert qemu.parse_memory("128M") == 128
    assert qemu.parse_memory("1G") == 1024
    assert qemu.parse_memory(512) == 512
    assert qemu.parse_memory("2GiB") == 2048
    with pytest.raises(InputError, match="at least 128M"):
        qemu.parse_memory("64M")
    with pytest.raises(InputError, match="not a size"):
        qemu.parse_memory("lots")


def test_memory_refusal_names_the_numbers_and_the_fix() -> None:
    check_memory(4, 256, available_mib=4 * (256 + qemu.QEMU_OVERHEAD_MIB))
    with pytest.raises(ResourceLimitError) as refused:
        check_memory(10, 1024, available_mib=4000)
    message = str(refused.value)
    assert "10 nodes" in message and "1024 MiB" in message
    assert "11520 MiB" in message and "4000 MiB" in message
    assert "at most 3 nodes" in message and "lower memory" in message
    assert "lower --memory" in refused.value.render(FLAGS)  # as nxc start prints it


def test_forward_specs() -> None:
    assert parse_forward("node1:8080") == Forward("node1", 8080, None)
    assert parse_forward("web2:80:18080") == Forward("web2", 80, 18080)
    for bad in ("node1", "node1:http", ":80", "node1:80:99999", "a:1:2:3"):
        with pytest.raises(InputError, match=r"^forwards "):
            parse_forward(bad)


def test_console_is_added_to_the_kernel_command_line_once() -> None:
    assert kernel_append("init=/init") == "init=/init console=ttyS0"
    assert kernel_append("console=ttyS0 quiet") == "console=ttyS0 quiet"


def test_accel_choice_can_be_forced_and_checks_the_name() -> None:
    assert qemu.choose_accel("qemu", Path("/k"), "tcg") == "tcg"
    assert qemu.choose_accel("qemu", Path("/k"), "kvm") == "kvm"
    with pytest.raises(InputError, match="accel 'hvf'"):
        qemu.choose_accel("qemu", Path("/k"), "hvf")
