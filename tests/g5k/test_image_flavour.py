"""The g5k-image flavour's Kadeploy step, on recorded Kadeploy outputs.

Kadeploy cannot run here (it needs Grid'5000's Kadeploy server and real machines), so
``kadeploy3`` runs are answered with outputs recorded in Kadeploy 3's format; what is checked
is nxc's side: the environment files, the command lines, which nodes are deployed again, and
what is reported in the end.
"""

from __future__ import annotations

import stat

import pytest
import yaml

from nxc.deployment import Deployment, Node
from nxc.errors import ManifestError, NxcError
from nxc.flavours.g5k.image import ImageFlavour, image_tarball
from nxc.flavours.g5k.options import ImageOptions
from nxc.manifest import Artefacts, Composition, Manifest, Role
from nxc.platforms.kadeploy import KadeployRun

DEPLOYED = """\
Deployment #D-5b9c2b6a-1c5e-4e21-9a0a-0d5d3c3b8f11 started
Grab the key file /home/alice/.ssh/id_rsa.pub
Grab the tarball file /home/alice/nxc-g5k-image.tar.gz
Launching a deployment on {host}
Performing a Deploy[SetDeploymentEnvUntrusted] step
End of step Deploy[SetDeploymentEnvUntrusted] after 130s
Performing a Broadcast[BroadcastEnvKascade] step
End of step Broadcast[BroadcastEnvKascade] after 21s
Performing a BootNewEnv[BootNewEnvKexec] step
End of step BootNewEnv[BootNewEnvKexec] after 98s
End of deployment for {host} after 249s
End of deployment on cluster grisou after 249s
Deployment #D-5b9c2b6a-1c5e-4e21-9a0a-0d5d3c3b8f11 done

The deployment is successful on nodes
{host}
"""

FAILED = """\
Deployment #D-0e8f4a3c-7d0b-4a75-8e3e-5c1f7a2b9d40 started
Launching a deployment on {host}
Performing a Deploy[SetDeploymentEnvUntrusted] step
End of step Deploy[SetDeploymentEnvUntrusted] after 377s
Deployment #D-0e8f4a3c-7d0b-4a75-8e3e-5c1f7a2b9d40 done

The deployment failed on nodes
{host} (Deploy[SetDeploymentEnvUntrusted]: Timeout in the Boot/Reboot step)
"""


def _deployment(tmp_path) -> Deployment:
    nodes = [
        Node(name, "node", address=f"172.16.0.{i}", ssh_host=f"{name}-host.site.grid5000.fr")
        for i, name in enumerate(("n1", "n2", "n3"), start=1)
    ]
    deployment = Deployment("composition", "g5k-image", nodes=nodes)
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    deployment.resources = {"secret_dir": str(secret_dir)}
    return deployment


def _report(deployed: list[str], failed: list[str]) -> str:
    """Kadeploy 3's output for one run deploying ``deployed`` and failing ``failed``."""
    head = DEPLOYED.split("The deployment is successful")[0].format(
        host=" ".join(deployed + failed)
    )
    text = head + "The deployment is successful on nodes\n" + "".join(f"{h}\n" for h in deployed)
    if failed:
        reason = "(Deploy[SetDeploymentEnvUntrusted]: Timeout in the Boot/Reboot step)"
        text += "The deployment failed on nodes\n" + "".join(f"{h} {reason}\n" for h in failed)
    return text


def test_one_environment_one_run_for_all_nodes_then_only_the_failed_are_retried(tmp_path):
    """n1 deploys at once, n2 on the second run, n3 never: three runs (all, then n2 and n3,
    then n3), one environment file shared by every node; only n3 is reported."""
    deployment = _deployment(tmp_path)
    failing_runs = {"n2-host.site.grid5000.fr": 1, "n3-host.site.grid5000.fr": 99}
    calls: list[list[str]] = []

    def recorded_kadeploy(argv: list[str]) -> KadeployRun:
        calls.append(argv)
        hosts = [argv[i + 1] for i, word in enumerate(argv) if word == "-m"]
        failed = [h for h in hosts if failing_runs.get(h, 0) > 0]
        for host in failed:
            failing_runs[host] -= 1
        deployed = [h for h in hosts if h not in failed]
        return KadeployRun(1 if failed else 0, _report(deployed, failed))

    line = "console=ttyS0 nxc.info=abc nxc.host_key_url=http://h/t/host_key/@"
    lines = {node.hostname: line for node in deployment.nodes}
    flavour = ImageFlavour(ImageOptions(retries=2))
    failures = flavour.kadeploy_all(
        deployment, "/home/alice/nxc-g5k-image.tar.gz", lines, tmp_path / "id.pub",
        recorded_kadeploy,
    )  # fmt: skip

    assert list(failures) == ["n3"]
    assert "3 time(s)" in failures["n3"] and "Timeout in the Boot/Reboot step" in failures["n3"]
    runs = [[argv[i + 1].split("-")[0] for i, w in enumerate(argv) if w == "-m"] for argv in calls]
    assert runs == [["n1", "n2", "n3"], ["n2", "n3"], ["n3"]]
    env_file = tmp_path / "secrets" / "kaenv.yaml"
    for argv in calls:
        assert argv[:3] == ["kadeploy3", "-a", str(env_file)]
        assert argv[-2:] == ["-k", str(tmp_path / "id.pub")]
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, "it holds the info server's token"
    environment = yaml.safe_load(env_file.read_text())
    assert environment["boot"] == {
        "kernel": "/boot/bzImage",
        "initrd": "/boot/initrd",
        "kernel_params": line,
    }
    assert environment["image"] == {
        "file": "/home/alice/nxc-g5k-image.tar.gz",
        "kind": "tar",
        "compression": "gzip",
    }


def test_nodes_added_later_are_deployed_in_one_run_of_their_own(tmp_path):
    """nxc start --add on g5k-image: only the added node's host is in the Kadeploy run, with
    the deployment's one environment."""
    deployment = _deployment(tmp_path)
    calls: list[list[str]] = []

    def recorded_kadeploy(argv: list[str]) -> KadeployRun:
        calls.append(argv)
        hosts = [argv[i + 1] for i, word in enumerate(argv) if word == "-m"]
        return KadeployRun(0, _report(hosts, []))

    added = deployment.nodes[2:]
    line = "console=ttyS0 nxc.info_url=http://h/t/info.json nxc.host_key_url=http://h/t/host_key/@"
    failures = ImageFlavour().kadeploy_all(
        deployment, "/home/alice/nxc-g5k-image.tar.gz", {"n3": line}, tmp_path / "id.pub",
        recorded_kadeploy, added,
    )  # fmt: skip
    assert failures == {}
    assert [[argv[i + 1] for i, w in enumerate(argv) if w == "-m"] for argv in calls] == [
        ["n3-host.site.grid5000.fr"]
    ]


def test_nodes_whose_command_lines_differ_cannot_share_an_environment(tmp_path):
    deployment = _deployment(tmp_path)
    lines = {node.hostname: f"nxc.host_key_url=http://h/t/host_key/{node.hostname}"
             for node in deployment.nodes}  # fmt: skip
    with pytest.raises(NxcError, match="cannot share one Kadeploy environment"):
        ImageFlavour().kadeploy_all(deployment, "/i.tar.gz", lines, tmp_path / "k", None)  # type: ignore[arg-type]


def test_image_artefact_folder_or_file(tmp_path):
    folder = tmp_path / "image"
    folder.mkdir()
    (folder / "nxc-g5k-image.tar.gz").write_bytes(b"x")
    (folder / "kaenv.yaml").write_text("")
    assert image_tarball(str(folder), "m") == str(folder / "nxc-g5k-image.tar.gz")
    assert image_tarball("http://h/i.tar.zst", "m") == "http://h/i.tar.zst"
    with pytest.raises(ManifestError, match="does not exist"):
        image_tarball(str(tmp_path / "gone.tar.gz"), "m")
    manifest = Manifest(
        "g5k-image",
        "x86_64-linux",
        (Composition("c", (Role("r", "/s"),), None, Artefacts(image=str(folder))),),
    )
    flavour = ImageFlavour()
    flavour.check_request(manifest, "c", ["r"])
    no_image = Manifest(
        "g5k-image", "x86_64-linux", (Composition("c", (Role("r", "/s"),), None, Artefacts()),)
    )
    with pytest.raises(ManifestError, match="no image artefact"):
        flavour.check_request(no_image, "c", ["r"])
