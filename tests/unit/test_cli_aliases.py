"""NixOS-Compose's spellings of ``nxc start`` / ``nxc stop`` options, through the real CLI
(a subprocess each): ``-C composition::flavour``, ``-k``, ``-s``, ``--ssh``, ``stop -d``, and
the ``MEM`` / ``QEMU_OPTS`` variables. Every refusal is one line, before anything is written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.errors import InputError
from nxc.flavours.common import processes
from nxc.start_request import ssh_command
from tests.vm.test_stop import fake_deployment, sleepers, spawn  # noqa: F401 (fixture)

MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
DOCKER = str(MANIFESTS / "multi-docker.json")
VM = str(MANIFESTS / "cluster-vm.json")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    return tmp_path


def nxc(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nxc", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def error_line(result: subprocess.CompletedProcess[str], project: Path) -> str:
    """The one error line of a refused command that wrote nothing."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("nxc: error: "), result.stderr
    assert not (project / "deploy").exists()
    return lines[-1].removeprefix("nxc: error: ")


def test_capital_c_names_composition_and_flavour(project):
    result = nxc(project, "start", "--dry-run", "--manifest", DOCKER, "-C", "bar::docker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("bar::docker: 1 node(s)")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-C", "bar::vm"], "built for flavour docker, not vm"),
        (["-C", "bar::docker", "-f", "vm"], "-C bar::docker and -f/--flavour vm disagree"),
        (["-C", "::docker"], "-C '::docker': expected COMPOSITION::FLAVOUR"),
    ],
)
def test_capital_c_refusals(project, args, expected):
    result = nxc(project, "start", "--dry-run", "--manifest", DOCKER, *args)
    assert expected in error_line(result, project)


def test_kernel_params_refused_for_docker(project):
    result = nxc(project, "start", "--manifest", DOCKER, "-c", "foo", "-k", "quiet")
    assert error_line(result, project) == (
        "-k/--kernel-params: the docker flavour boots no kernel of its own (containers share "
        "this machine's); drop it"
    )


def test_setup_kernel_params_ignored_for_docker_and_environment_aliases_too(project):
    """Ignored, said under --debug; the command then stops at --ssh, a Grid'5000 option."""
    (project / "setup.toml").write_text('[options]\nkernel-params = "quiet"\n')
    result = nxc(
        project, "--debug", "start", "--manifest", DOCKER, "-c", "foo", "--ssh", "ssh",
        MEM="2G", QEMU_OPTS="-smp 2",
    )  # fmt: skip
    assert "nxc: MEM, QEMU_OPTS ignored: for the vm flavours only" in result.stderr
    assert "nxc: setup.toml kernel-params ignored: docker boots no kernel" in result.stderr
    assert result.returncode == 2  # --debug adds the traceback
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("nxc: error: --ssh applies only to the Grid'5000 flavours")


def test_qemu_opts_flag_refused_for_docker(project):
    result = nxc(project, "start", "--manifest", DOCKER, "-c", "foo", "--qemu-opts", "-smp 2")
    assert error_line(result, project) == (
        "--qemu-opts applies only to the vm flavour, not docker; drop it"
    )


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"MEM": "lots"}, [], "MEM='lots' (the alias of --memory): --memory 'lots' is not a size"),
        ({"QEMU_OPTS": "-smbios 'type=1"}, [], 'QEMU_OPTS "-smbios \'type=1": No closing quot'),
        ({"QEMU_OPTS": "-append x"}, [], "QEMU option '-append' would override what nxc sets"),
        ({}, ["-k", 'a="b'], "-k/--kernel-params 'a=\"b': a double quote is not closed"),
        ({}, ["-k", "nxc.host_key=x"], "nxc.* parameters are nxc's own"),
        ({}, ["-s", "big"], "-s big: the project has no setup.toml"),
    ],
)
def test_vm_aliases_checked_before_anything_runs(project, env, args, expected):
    result = nxc(project, "start", "--manifest", VM, *args, **env)
    assert expected in error_line(result, project)


def test_explicit_memory_wins_over_mem(project):
    """A MEM that would be refused is not even read when --memory is given: the command goes
    on to the (also refused) -k."""
    result = nxc(project, "start", "--manifest", VM, "--memory", "1G", "-k", "nxc.x=1", MEM="no")
    assert "nxc.* parameters are nxc's own" in error_line(result, project)


def test_bad_setup_kernel_params_is_one_line_naming_the_key(project):
    (project / "setup.toml").write_text("[v.options]\nkernel-params = 1\n")
    result = nxc(project, "start", "--manifest", VM, "-s", "v")
    assert error_line(result, project) == (
        f"{project / 'setup.toml'}: [v.options] kernel-params must be a string or a list of "
        'strings, e.g. kernel-params = "..."'
    )


def test_ssh_command_gives_user_and_options():
    assert ssh_command("ssh -l root ") == ("root", ())
    assert ssh_command("ssh -lalice -i /k -o StrictHostKeyChecking=no -A") == (
        "alice",
        ("-i", "/k", "-o", "StrictHostKeyChecking=no", "-A"),
    )
    for bad, message in [
        ("oarsh", "nxc runs OpenSSH itself"),
        ("ssh host", "'host' is not an option"),
        ("ssh -i", "-i needs a value"),
        ("ssh -l -x", "'-x' is not a user name"),
    ]:
        with pytest.raises(InputError, match=message):
            ssh_command(bad)


def test_stop_d_names_the_deployment_by_its_record(project, sleepers):  # noqa: F811
    marker = processes.new_marker()
    node = spawn(sleepers, marker)
    fake_deployment(project, marker, [node.pid], 0)
    record = Path("deploy") / "fake::vm.json"
    result = nxc(project, "stop", "-d", str(record))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stopped fake::vm (1 node(s))\n"
    node.wait(timeout=10)

    both = nxc(project, "stop", "fake::vm", "-d", str(record))
    assert both.returncode == 2 and "not several" in both.stderr
    elsewhere = project / "fake::vm.json"
    elsewhere.write_text((project / record).read_text())
    outside = nxc(project, "stop", "-d", str(elsewhere))
    assert outside.returncode == 2 and outside.stderr.count("\n") == 1
    assert "not a deployment record of this project" in outside.stderr


def test_stop_f_picks_the_latest_deployment_of_a_flavour(project, sleepers):  # noqa: F811
    marker = processes.new_marker()
    node = spawn(sleepers, marker)
    fake_deployment(project, marker, [node.pid], 0)
    assert "no deployment with flavour 'docker'" in nxc(project, "stop", "-f", "docker").stderr
    unknown = nxc(project, "stop", "-f", "vmm")
    assert unknown.returncode == 2 and "unknown flavour 'vmm'" in unknown.stderr
    result = nxc(project, "stop", "-f", "vm")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stopped fake::vm (1 node(s))\n"
    node.wait(timeout=10)
