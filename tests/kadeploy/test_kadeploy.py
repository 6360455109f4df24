"""Kadeploy inputs (environment file, command line) and retry decisions from its outputs.

Kadeploy cannot run here (it needs Grid'5000's deployment infrastructure and is packaged
nowhere reachable). These tests check what nxc gives Kadeploy and what it makes of Kadeploy's
answers against outputs recorded in ``recorded/``, written from Kadeploy 3's documented output
format (the end-of-run ``The deployment is successful on nodes`` / ``The deployment failed on
nodes`` lists, and the pre-3.2 ``Nodes correctly deployed on cluster C`` form). The runner in
the retry tests replays those recordings in place of ``kadeploy3``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from nxc.errors import ExternalCommandError, InputError
from nxc.platforms.kadeploy import (
    KadeployEnvironment,
    KadeployRun,
    decide_retry,
    deploy_with_retries,
    kadeploy_argv,
    parse_kadeploy_output,
    parse_node_lists,
    run_kadeploy,
)

RECORDED = Path(__file__).parent / "recorded"
G12, G13, G14 = (f"gros-{n}.nancy.grid5000.fr" for n in (12, 13, 14))


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def test_environment_file_has_kadeploys_fields_and_keeps_the_deployment_info(tmp_path):
    info = base64.urlsafe_b64encode(json.dumps({"version": 1, "nodes": []}).encode()).decode()
    env = KadeployEnvironment(
        name="webapp-g5k-image",
        image_file="/home/alice/nxc/artifact/webapp/g5k-image/image.tar.zst",
        kernel="/boot/bzImage",
        initrd="/boot/initrd",
        kernel_params=f"init=/nix/store/abc-system/init console=ttyS0 nxc.info={info}",
    )
    path = env.write(tmp_path / "webapp.yaml")
    assert path.read_text().startswith("---\n")
    loaded = yaml.safe_load(path.read_text())
    assert loaded["image"] == {
        "file": "/home/alice/nxc/artifact/webapp/g5k-image/image.tar.zst",
        "kind": "tar",
        "compression": "zstd",
    }
    assert loaded["boot"]["kernel_params"].endswith(f"nxc.info={info}")
    assert (loaded["filesystem"], loaded["partition_type"], loaded["multipart"]) == (
        "ext4",
        131,
        False,
    )
    assert loaded["os"] == "linux" and loaded["destructive"] is False


@pytest.mark.parametrize(
    ("image", "compression"),
    [("i.tar.gz", "gzip"), ("i.tgz", "gzip"), ("i.tar.xz", "xz"), ("i.tar.bz2", "bzip2")],
)
def test_compression_follows_the_image_suffix(image, compression):
    env = KadeployEnvironment("e", f"http://files.example/{image}", "/k", "/i")
    assert env.to_dict()["image"]["compression"] == compression


def test_unknown_image_suffix_is_an_input_error():
    with pytest.raises(InputError, match=r"unknown suffix; use one of \.tar\.gz"):
        KadeployEnvironment("e", "/home/a/image.tar.lz4", "/k", "/i").to_yaml()


def test_command_line_is_non_interactive_on_the_nodefile_then_on_named_hosts():
    assert kadeploy_argv(
        "/home/a/env.yaml",
        nodes_file="/var/lib/oar/42",
        ssh_key="/home/a/.ssh/id.pub",
        ok_file="/tmp/ok",
        ko_file="/tmp/ko",
    ) == [
        "kadeploy3", "-a", "/home/a/env.yaml", "-f", "/var/lib/oar/42",
        "-k", "/home/a/.ssh/id.pub", "-o", "/tmp/ok", "-n", "/tmp/ko",
    ]  # fmt: skip
    assert kadeploy_argv("/e.yaml", hosts=[G13, G14]) == [
        "kadeploy3", "-a", "/e.yaml", "-m", G13, "-m", G14,
    ]  # fmt: skip
    with pytest.raises(ValueError):
        kadeploy_argv("/e.yaml")


def test_parses_successful_and_failed_nodes_with_reasons():
    assert parse_kadeploy_output(recorded("all_deployed.out")).deployed == (G12, G13)
    report = parse_kadeploy_output(recorded("one_failed.out"))
    assert report.deployed == (G12, G13)
    assert report.failed == {G14: "BootNewEnvKexec-wait_reboot: Unreachable after the reboot"}


def test_parses_the_pre_3_2_output_format():
    report = parse_kadeploy_output(recorded("old_format_3_1.out"))
    assert report.deployed == (G12,)
    assert report.failed == {G13: "BroadcastEnvKastafior-send_environment: Timeout"}


def test_node_list_files_give_the_same_report():
    report = parse_node_lists(f"{G12}\n{G13}\n", f"{G14}\n\n")
    assert report.deployed == (G12, G13) and set(report.failed) == {G14}


def test_failed_and_unreported_nodes_are_retried_while_attempts_remain():
    report = parse_kadeploy_output(recorded("one_failed.out"))
    extra = "gros-15.nancy.grid5000.fr"
    first = decide_retry([G12, G13, G14, extra], report, attempt=1, max_attempts=3)
    assert first.deployed == (G12, G13)
    assert first.retry == (G14, extra) and not first.done
    last = decide_retry([G12, G13, G14, extra], report, attempt=3, max_attempts=3)
    assert last.done and last.retry == ()
    assert last.given_up[G14].startswith("BootNewEnvKexec-wait_reboot")
    assert last.given_up[extra] == "kadeploy3 did not report on this node"


class Replay:
    """Stands in for ``kadeploy3``: returns recorded runs in order, logs the hosts asked."""

    def __init__(self, *runs: KadeployRun) -> None:
        self.runs = list(runs)
        self.calls: list[list[str]] = []

    def __call__(self, hosts: list[str]) -> KadeployRun:
        self.calls.append(list(hosts))
        return self.runs.pop(0)


def test_only_failed_nodes_are_deployed_again_and_success_stops_retrying():
    replay = Replay(
        KadeployRun(1, recorded("one_failed.out")), KadeployRun(0, recorded("retry_succeeds.out"))
    )
    outcome = deploy_with_retries(replay, [G12, G13, G14], max_attempts=3)
    assert replay.calls == [[G12, G13, G14], [G14]]
    assert outcome.deployed == (G12, G13, G14) and outcome.given_up == {} and outcome.done


def test_nodes_failing_every_attempt_are_reported_with_their_last_reason():
    replay = Replay(
        KadeployRun(1, recorded("one_failed.out")),
        KadeployRun(1, recorded("retry_fails_again.out")),
    )
    outcome = deploy_with_retries(replay, [G12, G13, G14], max_attempts=2)
    assert replay.calls == [[G12, G13, G14], [G14]]
    assert outcome.deployed == (G12, G13)
    assert outcome.given_up == {
        G14: "SetDeploymentEnvUntrusted-wait_reboot: Unreachable after the reboot"
    }


def test_a_run_that_reports_no_node_is_an_error_and_is_not_retried():
    replay = Replay(KadeployRun(1, "", recorded("env_error.err")))
    with pytest.raises(ExternalCommandError, match="Invalid environment description"):
        deploy_with_retries(replay, [G12, G13], max_attempts=3)
    assert len(replay.calls) == 1


def test_run_kadeploy_runs_the_wrapped_command(tmp_path):
    script = tmp_path / "fake-kadeploy3"
    script.write_text(f"#!/bin/sh\ncat {RECORDED / 'all_deployed.out'}\nexit 0\n")
    script.chmod(0o755)
    result = run_kadeploy(["kadeploy3", "-a", "e.yaml"], 10, lambda argv: [str(script), *argv])
    assert result.returncode == 0
    assert parse_kadeploy_output(result.stdout).deployed == (G12, G13)
