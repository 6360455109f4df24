"""What NixOS-Compose projects rely on, evaluated by real Nix (offline, through the seams).

The real NixOS seam runs with tests/fixtures/fakenixpkgs standing in for nixpkgs (which cannot
be fetched here); the `nixos`-marked test uses real nixpkgs where Nix has network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nxc.manifest import load
from tests.nix.conftest import NIX_LIBRARY, REPO, nix_environment, run_nxc

pytestmark = pytest.mark.nix

FAKE = REPO / "tests" / "fixtures" / "fakenixpkgs"
NIX_FLAGS = ["--extra-experimental-features", "nix-command flakes", "--no-update-lock-file"]
OFFLINE_FLAGS = ["--option", "substituters", "", "--option", "flake-registry", ""]
ROOT_FLAGS = ["--option", "build-users-group", ""] if os.geteuid() == 0 else []


def _nix(*args: str, online: bool = False, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    flags = NIX_FLAGS + ROOT_FLAGS + ([] if online else OFFLINE_FLAGS)
    return subprocess.run(
        ["nix", *args, *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=nix_environment(),
    )


def _seam_project(root: Path, composition: str) -> Path:
    """A project using the real NixOS seam with the fake nixpkgs and ``composition`` (Nix)."""
    project = root / "project"
    project.mkdir()
    shutil.copytree(NIX_LIBRARY, project / "nxc-nix")
    shutil.copytree(FAKE, project / "fakenixpkgs")
    flake = (FAKE / "project-flake.nix").read_text()
    start = flake.index("composition = {")
    end = flake.index("};\n      };\n    };\n}", start)
    (project / "flake.nix").write_text(
        flake[:start] + f"composition = {composition};" + flake[end + 2 :]
    )
    return project


# the flakes below: the real library and NixOS seam with the fake nixpkgs, up to lib.compose's {
LET_COMPOSE = """
    let
      system = "x86_64-linux";
      nixpkgs = { outPath = ./fakenixpkgs; lib = import ./fakenixpkgs/lib.nix; };
      nxcLib = import ./nxc-nix/lib.nix { seamFor = import ./nxc-nix/seam/nixos.nix; };
    in {
      packages.${system} = nxcLib.compose {
"""

NUR_FLAKE = """{
  inputs.NUR.url = "path:./fake-nur";
  inputs.NUR.flake = false;
  inputs.kapack.url = "path:./local-kapack";
  inputs.kapack.flake = false;
  outputs = { self, NUR, kapack }:"""
NUR_FLAKE += LET_COMPOSE
NUR_FLAKE += """        inherit nixpkgs system NUR;
        repoOverrides = { inherit kapack; };
        composition = { pkgs, nur, ... }: {
          roles.server = nur.repos.kapack.modules.oar;
          testScript = "${pkgs.nur.repos.kapack.oar} ${nur.repos.upstream.tool}";
        };
      };
    };
}
"""


def test_nur_input_and_repo_overrides_reach_compositions(tmp_path: Path, requires_nix):
    """`NUR` and `repoOverrides` given to lib.compose as NixOS-Compose projects give them:
    compositions get `nur.repos.<name>` (modules too) and `pkgs.nur.repos.<name>.<pkg>`; a
    local override replaces the repo. NUR itself is a stand-in (no network here)."""
    project = _seam_project(tmp_path, "{ roles.server = { }; }")
    (project / "flake.nix").write_text(NUR_FLAKE)
    (project / "fake-nur").mkdir()
    (project / "fake-nur" / "default.nix").write_text(
        "{ nurpkgs, pkgs ? null, repoOverrides ? { } }: {\n"
        '  repos.upstream.tool = "upstream-tool-for-${pkgs.system}";\n'
        '  repos.kapack.oar = "kapack-from-nur";\n'
        "}\n"
    )
    (project / "local-kapack").mkdir()
    (project / "local-kapack" / "default.nix").write_text(
        '{ pkgs }: { oar = "local-oar-for-${pkgs.system}"; modules.oar = { }; }\n'
    )
    result = run_nxc("build", "-f", "vm", cwd=project)
    assert result.returncode == 0, result.stderr
    manifest = load(project / "build" / "composition::vm" / "manifest.json")
    assert manifest.compositions[0].test_script == (
        "local-oar-for-x86_64-linux upstream-tool-for-x86_64-linux"
    )


SETUP_FLAKE = """{
  outputs = { self }:"""
SETUP_FLAKE += LET_COMPOSE
SETUP_FLAKE += """        inherit nixpkgs system;
        setup = ./setup.toml;
        composition = { pkgs, setup, ... }: {
          roles.server = { };
          testScript = "${setup.project.selected}|${pkgs.greeter}";
        };
      };
    };
}
"""


@pytest.mark.parametrize(
    ("variant", "selected", "expected"),
    [
        ([], "", "hello nxc from nowhere"),
        (["-s", "dev"], "dev", "hello nxc from /nix/store/"),
        (["-s", "polite"], "polite", "good day nxc from nowhere"),
    ],
    ids=["no-variant", "dev-source", "overrides"],
)
def test_setup_build_and_overrides_change_packages(
    tmp_path: Path, requires_nix, variant: list[str], selected: str, expected: str
):
    """setup.toml's [build.<pkg>] (args, src) and [overrides.<pkg>] reach pkgs as overlays,
    variants included, and setup.project.selected is "" without a variant."""
    project = _seam_project(tmp_path, "{ roles.server = { }; }")
    (project / "flake.nix").write_text(SETUP_FLAKE)
    (project / "dev-src").mkdir()
    (project / "dev-src" / "README").write_text("local clone\n")
    (project / "setup.toml").write_text(
        "[build.greeter]\n"
        'args = { who = "nxc" }\n'
        "[dev.build.greeter]\n"
        f'src = "{project / "dev-src"}"\n'
        "[polite.overrides.greeter]\n"
        'message = "good day nxc"\n'
    )
    result = run_nxc("build", "-f", "vm", *variant, cwd=project)
    assert result.returncode == 0, result.stderr
    manifest = load(project / "build" / "composition::vm" / "manifest.json")
    shown_selected, greeter = (manifest.compositions[0].test_script or "").split("|")
    assert shown_selected == selected
    assert Path(greeter).read_text().startswith(expected)


def test_compositions_get_nixpkgs_nixos_as_modules_path(tmp_path: Path, requires_nix):
    """NixOS-Compose passes <nixpkgs>/nixos: users write "${modulesPath}/tests/ssh-keys.nix"."""
    project = _seam_project(
        tmp_path,
        '{ modulesPath, ... }: { roles.server = { }; testScript = "${modulesPath}"; }',
    )
    result = run_nxc("build", "-f", "vm", cwd=project)
    assert result.returncode == 0, result.stderr
    manifest = load(project / "build" / "composition::vm" / "manifest.json")
    given = Path(manifest.compositions[0].test_script or "")
    assert given.name == "nixos" and given.parent.name.endswith("-fakenixpkgs"), given
    assert (given.parent / "lib.nix").is_file()


def test_empty_default_flavour_builds_with_f(fixture_project: Path):
    """A NixOS-Compose nxc.json ("default_flavour": "") works with an explicit -f."""
    (fixture_project / "nxc.json").write_text(
        '{"composition": "composition.nix", "default_flavour": ""}'
    )
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    assert (fixture_project / "build" / "composition::vm" / "manifest.json").is_file()


def test_counted_role_absent_from_roles_is_a_warning(fixture_project: Path):
    """NixOS-Compose ignores a rolesDistribution entry naming no role; nxc warns and builds."""
    (fixture_project / "composition.nix").write_text(
        "{ roles.a = { }; rolesDistribution = { a = 2; b = 3; }; }"
    )
    result = run_nxc("build", "-f", "vm", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    assert "rolesDistribution of composition 'composition' names b, not among its roles (a)" in (
        result.stderr
    )
    manifest = load(fixture_project / "build" / "composition::vm" / "manifest.json")
    assert {r.name: r.default_count for r in manifest.compositions[0].roles} == {"a": 2}


@pytest.mark.nixos
def test_a_composition_importing_nixos_test_keys_builds(tmp_path: Path, requires_nix):
    """Needs Nix with network access to nixpkgs: the NixOS-Compose idiom evaluates for real."""
    assert run_nxc("init", "-t", "basic", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    (project / "composition.nix").write_text(
        "{ pkgs, modulesPath, ... }: {\n"
        '  roles.node = { imports = [ "${modulesPath}/tests/common/user-account.nix" ]; };\n'
        '  testScript = "node.succeed(\\"id alice\\")";\n'
        "}\n"
    )
    result = run_nxc("build", "-f", "vm", "--dry-run", cwd=project, timeout=3600)
    assert result.returncode == 0, result.stderr


def test_flake_has_the_outputs_nixos_compose_projects_name(requires_nix):
    """Names only: the values need nixpkgs (the `nixos` test below builds them)."""

    def names(attr: str) -> list[str]:
        result = _nix("eval", "--json", f"path:{REPO}#{attr}", "--apply", "builtins.attrNames")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    assert {"default", "nxc", "nixos-compose", "execo"} <= set(names("packages.x86_64-linux"))
    assert {"nxcShell", "nxcShellFull"} <= set(names("devShells.x86_64-linux"))
    assert names("defaultPackage") == ["aarch64-linux", "x86_64-linux"]


@pytest.mark.nixos
def test_nixos_compose_package_has_every_python_dependency(requires_nix, tmp_path: Path):
    """Needs Nix with network access to nixpkgs and PyPI (execo's sdist, pinned by hash)."""
    env_link = tmp_path / "env"
    built = _nix(
        "build",
        "-o",
        str(env_link),
        f"path:{REPO}#nixos-compose.dependencyEnv",
        online=True,
        timeout=3 * 3600,
    )
    assert built.returncode == 0, built.stderr
    imported = subprocess.run(
        [str(env_link / "bin" / "python3"), "-c", "import nxc, execo, asyncssh, yaml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr
    app_link = tmp_path / "app"
    assert (
        _nix(
            "build", "-o", str(app_link), f"path:{REPO}#nxc", online=True, timeout=3 * 3600
        ).returncode
        == 0
    )
    version = subprocess.run(
        [str(app_link / "bin" / "nxc"), "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.returncode == 0 and version.stdout.startswith("nxc "), version.stderr


def test_docker_ports_and_extra_volumes_reach_the_docker_build(fixture_project: Path):
    """`dockerPorts.<role>` and `extraVolumes` of a composition end in the docker manifest,
    as nxc's docker flavour reads it (tests/docker proves them on a real engine)."""
    from nxc.flavours.docker.containers import role_containers
    from nxc.flavours.docker.publish import ExtraVolume, PublishedPort

    (fixture_project / "composition.nix").write_text(
        "{ roles = { server = { }; client = { }; };\n"
        '  dockerPorts.server = [ "8080:80" "127.0.0.1:5353:53/udp" ];\n'
        '  extraVolumes = [ "/srv/data:/data:ro" ]; }\n'
    )
    result = run_nxc("build", "-f", "docker", cwd=fixture_project)
    assert result.returncode == 0, result.stderr
    manifest = load(fixture_project / "build" / "composition::docker" / "manifest.json")
    roles = role_containers(manifest, "composition")
    assert roles["server"].ports == (
        PublishedPort("80/tcp", "", 8080),
        PublishedPort("53/udp", "127.0.0.1", 5353),
    )
    assert roles["client"].ports == ()
    volume = ExtraVolume("/srv/data", "/data", read_only=True, kind="bind")
    assert roles["server"].volumes == roles["client"].volumes == (volume,)


@pytest.mark.parametrize(
    "composition",
    ['dockerPorts.server = [ "80:eighty" ];', 'extraVolumes = [ "relative/path" ];'],
    ids=["bad-port", "bad-volume"],
)
def test_bad_docker_settings_are_refused_with_what_to_fix(fixture_project: Path, composition: str):
    """Read as nxc start -f docker reads the build, before anything is created."""
    from nxc.errors import ManifestError
    from nxc.flavours.docker.containers import role_containers

    (fixture_project / "composition.nix").write_text(
        f"{{ roles = {{ server = {{ }}; }}; {composition} }}\n"
    )
    assert run_nxc("build", "-f", "docker", cwd=fixture_project).returncode == 0
    manifest = load(fixture_project / "build" / "composition::docker" / "manifest.json")
    with pytest.raises(ManifestError, match=r"fix (dockerPorts|extraVolumes) in the composition"):
        role_containers(manifest, "composition")
