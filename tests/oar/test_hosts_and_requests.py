"""Machine files, host splitting and OAR command lines (pure Python, no OAR needed)."""

from __future__ import annotations

import re
import shlex

import pytest

from nxc.cli.flags import FLAGS
from nxc.errors import InputError, MachineFileError, ResourceLimitError
from nxc.platforms import (
    Frontend,
    Hosts,
    OarJob,
    OarRequest,
    check_explicit_assignment,
    job_id_from_environment,
    read_machine_file,
    split_hosts,
)


def test_oar_nodefile_repeats_collapse_in_first_appearance_order(tmp_path):
    nodefile = tmp_path / "nodefile"
    nodefile.write_text("b-2.site\nb-2.site\na-1.site\n\n# spare\nb-2.site\nc-3.site  # last\n")
    assert read_machine_file(nodefile) == ["b-2.site", "a-1.site", "c-3.site"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("node-1\nnode 2\n", r"line 2: 'node 2' is not a host name"),
        ("# nothing\n\n", "lists no host"),
        ("-bad\n", "line 1"),
    ],
)
def test_malformed_machine_files_name_file_and_line(tmp_path, text, message):
    machine_file = tmp_path / "machines"
    machine_file.write_text(text)
    with pytest.raises(MachineFileError, match=message) as caught:
        read_machine_file(machine_file)
    assert str(machine_file) in str(caught.value)
    assert caught.value.exit_code == 2


def test_missing_machine_file_suggests_waiting(tmp_path):
    with pytest.raises(MachineFileError, match=r"does not exist.*-W"):
        read_machine_file(tmp_path / "absent")


def test_split_assigns_in_order_and_lists_extra_hosts_as_unused():
    assigned, unused = split_hosts(["h1", "h2", "h3", "h4"], 3, "machine file m")
    assert (assigned, unused) == (["h1", "h2", "h3"], ["h4"])
    assert split_hosts(["h1"], 1, "x") == (["h1"], [])


def test_fewer_hosts_than_nodes_is_refused_naming_the_source():
    hosts = Hosts(("h1", "h2"), "machine file /tmp/m")
    with pytest.raises(
        ResourceLimitError, match=r"machine file /tmp/m gives 2 host\(s\).*3 node"
    ) as e:
        hosts.split(3)
    assert e.value.render(FLAGS).endswith("(e.g. --oar 'nodes=3') or plan fewer nodes with -r")


def test_explicit_assignment_refuses_duplicate_and_unknown_hosts():
    hosts = Hosts(("h1", "h2", "h3"), "OAR job 7")
    check_explicit_assignment({"server": ["h1"], "client": ["h2", "h3"]}, hosts)
    with pytest.raises(MachineFileError, match="host h1 is given twice"):
        check_explicit_assignment({"server": ["h1"], "client": ["h1"]}, hosts)
    with pytest.raises(MachineFileError, match="unknown to OAR job 7: h9"):
        check_explicit_assignment({"server": ["h9"]}, hosts)


def test_oarsub_argv_carries_resources_walltime_types_and_command():
    request = OarRequest(
        "{cluster='gros'}/nodes=4",
        walltime="1:30",
        job_types=("deploy",),
        directory="/home/u",
    )
    assert re.fullmatch(r"nxc-[0-9a-f]{12}", request.name)
    assert request.oarsub_argv() == [
        "oarsub",
        "-l",
        "{cluster='gros'}/nodes=4,walltime=1:30",
        "-n",
        request.name,
        "-t",
        "deploy",
        "-d",
        "/home/u",
        "sleep infinity",
    ]


@pytest.mark.parametrize(
    ("resources", "walltime"), [("", None), ("nodes=2\nrm", None), ("nodes=2", "1h")]
)
def test_bad_oar_requests_are_input_errors(resources, walltime):
    with pytest.raises(InputError):
        OarRequest(resources, walltime=walltime)


def test_every_request_gets_a_name_of_its_own_and_names_nxc_does_not_make_are_refused():
    assert OarRequest("nodes=1").name != OarRequest("nodes=1").name
    for name in ("nxc", "nxc-home", "nxc-0123456789AB", "x-0123456789ab"):
        with pytest.raises(InputError, match="not one nxc makes"):
            OarRequest("nodes=1", name=name)


def test_remote_frontend_quotes_the_command_for_the_remote_shell():
    frontend = Frontend(host="nancy", ssh_options=("-o", "ConnectTimeout=10"))
    argv = frontend.argv(["oarsub", "-l", "{cluster='gros'}/nodes=2", "sleep infinity"])
    assert argv[:6] == ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "nancy"]
    assert shlex.split(argv[6]) == ["oarsub", "-l", "{cluster='gros'}/nodes=2", "sleep infinity"]
    assert Frontend(wrapper=("runuser", "-u", "u", "--")).argv(["oarstat"]) == [
        "runuser",
        "-u",
        "u",
        "--",
        "oarstat",
    ]


def test_job_record_round_trip_keeps_ownership_and_frontend():
    job = OarJob(42, created_by_nxc=False, frontend=Frontend(host="lyon"))
    record = job.to_record()
    assert record["oar_job_id"] == 42 and record["created_by_nxc"] is False
    assert OarJob.from_record(record) == job
    named = OarJob(7, created_by_nxc=True, name="nxc-0123456789ab", owner="alice")
    assert OarJob.from_record(named.to_record()) == named


def test_job_id_from_environment_inside_an_oar_job():
    assert job_id_from_environment({"OAR_JOB_ID": "1234"}) == 1234
    assert job_id_from_environment({}) is None
    with pytest.raises(InputError, match="OAR_JOB_ID='x1' is not a job number"):
        job_id_from_environment({"OAR_JOB_ID": "x1"})
