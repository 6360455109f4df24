"""Role quantities: -r options, roles files, composition defaults, hostnames and their errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nxc.errors import RolesError
from nxc.roles import (
    default_quantities,
    is_hostname,
    parse_role_option,
    parse_role_options,
    read_roles_file,
    resolve_quantities,
)

DEFAULTS = {"builder": 1, "node": 2}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def hostnames(quantities) -> dict[str, tuple[str, ...]]:
    return {role: quantity.hostnames for role, quantity in quantities.items()}


# --- -r options -----------------------------------------------------------------------------


def test_count_option_numbers_hostnames_from_one():
    quantity = parse_role_option("node=3")
    assert quantity.role == "node"
    assert quantity.hostnames == ("node1", "node2", "node3")
    assert quantity.source == "-r node=3"


def test_count_of_one_is_numbered_like_nixos_compose():
    assert parse_role_option("node=1").hostnames == ("node1",)


def test_hostname_option_keeps_names_in_order():
    assert parse_role_option("server=foo, bar").hostnames == ("foo", "bar")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo", "-r foo: missing '='"),
        ("=3", "-r =3: missing role name"),
        ("node=", "-r node=: missing count or hostnames"),
        ("node=0", "count 0 must be at least 1"),
        ("node=-2", "count -2 must be at least 1"),
        ("node=2.5", "count '2.5' is not a whole number"),
        ("node=1e3", "count '1e3' is not a whole number"),
        ("node=foo,,bar", "'' is not a valid hostname"),
        ("node=foo.example", "'foo.example' is not a valid hostname"),
        ("node=-foo", "'-foo' is not a valid hostname"),
        ("node=foo,FOO", "hostname 'FOO' is listed twice"),
        ("no.de=2", "'no.de' is not a role name"),
    ],
)
def test_bad_option_names_the_option_and_the_fix(text, expected):
    with pytest.raises(RolesError) as caught:
        parse_role_option(text)
    message = str(caught.value)
    assert expected in message
    assert message.startswith(f"-r {text}")
    assert "\n" not in message
    assert (
        "-r ROLE=" in message
        or "fix the name" in message
        or "remove one" in message
        or ("role the composition declares" in message)
    )


def test_same_role_twice_in_options_is_refused():
    with pytest.raises(RolesError, match="already given by '-r node=2'"):
        parse_role_options(["node=2", "node=3"])


# --- roles files ----------------------------------------------------------------------------


def test_yaml_counts(tmp_path):
    path = write(tmp_path, "roles.yaml", "builder: 1\nnode: 3\n")
    assert hostnames(read_roles_file(path)) == {
        "builder": ("builder1",),
        "node": ("node1", "node2", "node3"),
    }


def test_nixos_compose_nodes_yaml_with_lists_of_hostnames(tmp_path):
    """The file of NixOS-Compose's examples/nixos-cluster, on which NixOS-Compose crashes."""
    path = write(tmp_path, "nodes.yaml", "builder:\n  - builder\nnode:\n  - foo\n  - bar\n")
    assert hostnames(read_roles_file(path)) == {"builder": ("builder",), "node": ("foo", "bar")}


def test_mapping_values(tmp_path):
    path = write(tmp_path, "roles.yml", "node: {count: 2}\nbuilder:\n  hostnames: [b0]\n")
    assert hostnames(read_roles_file(path)) == {"node": ("node1", "node2"), "builder": ("b0",)}


def test_quoted_values_read_like_options(tmp_path):
    path = write(tmp_path, "roles.yaml", "node: '2'\nbuilder: 'x,y'\n")
    assert hostnames(read_roles_file(path)) == {"node": ("node1", "node2"), "builder": ("x", "y")}


def test_json_file(tmp_path):
    path = write(tmp_path, "roles.json", json.dumps({"node": 2, "builder": ["b"]}))
    assert hostnames(read_roles_file(path)) == {"node": ("node1", "node2"), "builder": ("b",)}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("empty.yaml", "", "roles file is empty"),
        ("comments.yaml", "# nothing here\n", "roles file is empty"),
        ("braces.yaml", "{}\n", "roles file is empty"),
        ("broken.yaml", "node: [1, 2\n", "not valid YAML (line 2"),
        ("tabs.yaml", "node:\n\t- a\n", "not valid YAML"),
        ("broken.json", '{"node": 2,}', "not valid JSON (line 1"),
        ("list.yaml", "- node\n- builder\n", "must map each role to its nodes, got a list"),
        ("scalar.yaml", "hello\n", "must map each role to its nodes, got 'hello'"),
        ("tag.yaml", "node: !DefaultRole 2\n", "line 1, column 7: tagged value '!DefaultRole'"),
        ("stdtag.yaml", "node: !!str 2\n", "tagged value 'tag:yaml.org,2002:str'"),
        ("pytag.yaml", "node: !!python/object:os.system x\n", "tagged value"),
        ("zero.yaml", "node: 0\n", "role 'node': count 0 must be at least 1"),
        ("negative.yaml", "node: -1\n", "role 'node': count -1 must be at least 1"),
        ("float.yaml", "node: 1.5\n", "role 'node': count 1.5 is not a whole number"),
        ("bool.yaml", "node: yes\n", "the boolean true is not a count"),
        ("null.yaml", "node:\n", "role 'node': nothing is not a count"),
        ("numbers.yaml", "node: [1, 2]\n", "1 is not a valid hostname"),
        ("nested.yaml", "node: [[a]]\n", "a list is not a valid hostname"),
        ("dots.yaml", "node: [a.b]\n", "'a.b' is not a valid hostname"),
        ("emptylist.yaml", "node: []\n", "the list of hostnames is empty"),
        ("twice.yaml", "node: [a, A]\n", "hostname 'A' is listed twice"),
        ("dupkey.yaml", "node: 1\nnode: 2\n", "key 'node' appears twice"),
        ("dupkey.json", '{"node": 1, "node": 2}', "key 'node' appears twice"),
        ("intkey.yaml", "1: 2\n", "role names must be text"),
        ("map.yaml", "node: {count: 2, hostnames: [a]}\n", "exactly one key"),
        ("mapcount.yaml", "node: {count: two}\n", "count 'two' is not a whole number"),
    ],
)
def test_bad_roles_file_names_the_file_and_the_fix(tmp_path, name, text, expected):
    path = write(tmp_path, name, text)
    with pytest.raises(RolesError) as caught:
        read_roles_file(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_missing_roles_file(tmp_path):
    with pytest.raises(RolesError, match="roles file not found; check the path"):
        read_roles_file(tmp_path / "absent.yaml")


def test_binary_roles_file(tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_bytes(b"\xff\xfe\x00node")
    with pytest.raises(RolesError, match="not a text file"):
        read_roles_file(path)


def test_tagged_value_is_not_executed(tmp_path):
    marker = tmp_path / "executed"
    path = write(
        tmp_path, "evil.yaml", f"node: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(RolesError):
        read_roles_file(path)
    assert not marker.exists()


# --- defaults and resolution ----------------------------------------------------------------


def test_default_of_one_keeps_role_name_and_more_are_numbered():
    assert hostnames(default_quantities({"server": 1, "node": 3, "spare": 0})) == {
        "server": ("server",),
        "node": ("node1", "node2", "node3"),
        "spare": (),
    }


def test_options_override_file_which_overrides_defaults(tmp_path):
    from_file = read_roles_file(write(tmp_path, "r.yaml", "node: [foo, bar]\nbuilder: 2\n"))
    options = parse_role_options(["node=3"])
    resolved = resolve_quantities(DEFAULTS, from_file, options, composition="c")
    assert hostnames(resolved) == {
        "builder": ("builder1", "builder2"),
        "node": ("node1", "node2", "node3"),
    }
    assert resolved["builder"].source == f"{tmp_path / 'r.yaml'}, line 2"
    assert resolved["node"].source == "-r node=3"


def test_messages_about_a_role_of_a_yaml_file_name_its_line(tmp_path):
    path = write(tmp_path, "r.yaml", "# roles\nnode: 2\n\nbuilder: 0\n")
    with pytest.raises(RolesError, match=r"r\.yaml, line 4: role 'builder': count 0 must be"):
        read_roles_file(path)
    unknown = read_roles_file(write(tmp_path, "u.yaml", "node: 1\nbiulder: 1\n"))
    with pytest.raises(RolesError, match=r"u\.yaml, line 2: unknown role 'biulder'; did you"):
        resolve_quantities(DEFAULTS, unknown, composition="c")


def test_resolution_keeps_composition_role_order_and_drops_empty_roles():
    resolved = resolve_quantities(
        {"b": 1, "a": 0, "c": 1}, parse_role_options(["c=1", "b=x"]), composition="c"
    )
    assert list(resolved) == ["b", "c"]


def test_unknown_role_names_source_and_declared_roles():
    with pytest.raises(RolesError) as caught:
        resolve_quantities(DEFAULTS, parse_role_options(["nod=2"]), composition="comp")
    assert str(caught.value) == (
        "-r nod=2: unknown role 'nod'; did you mean 'node'? "
        "composition 'comp' declares: builder, node"
    )


def test_duplicate_hostnames_across_roles(tmp_path):
    from_file = read_roles_file(write(tmp_path, "r.yaml", "node: [builder, foo]\n"))
    with pytest.raises(RolesError) as caught:
        resolve_quantities(DEFAULTS, from_file, composition="c")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'r.yaml'}, line 1: hostname 'builder' of role 'node'")
    assert "already used by role 'builder' (composition default)" in message


def test_numbered_hostnames_can_clash_with_listed_ones():
    with pytest.raises(RolesError, match="hostname 'node2' of role 'node' is already used"):
        resolve_quantities(
            DEFAULTS, parse_role_options(["builder=node2", "node=2"]), composition="c"
        )


def test_hostname_rule():
    assert is_hostname("node-1_a")
    assert is_hostname("a" * 63)
    assert not is_hostname("a" * 64)
    for bad in ("", "-a", "a-", "_a", "a.b", "a b", "é"):
        assert not is_hostname(bad)


def test_numbering_past_63_characters_is_refused():
    with pytest.raises(RolesError, match="not a valid hostname"):
        parse_role_option(f"{'a' * 62}=10")


# --- edge cases met in the field --------------------------------------------------------------


@pytest.mark.parametrize("name", ["nodes.json", "nodes.yaml"])
def test_roles_file_with_a_byte_order_mark_is_read(tmp_path, name):
    path = tmp_path / name
    text = '{"node": 2}' if name.endswith(".json") else "node: 2\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert hostnames(read_roles_file(path)) == {"node": ("node1", "node2")}


@pytest.mark.parametrize("text", ["node=10000000000", "node=1000001"])
def test_absurd_count_is_refused_before_naming_its_nodes(text):
    with pytest.raises(RolesError) as caught:
        parse_role_option(text)
    assert (
        str(caught.value)
        == f"-r {text}: count {text[5:]} is more than 1,000,000 nodes; check the count"
    )


def test_largest_count_is_accepted():
    assert parse_role_option("node=1000000").hostnames[-1] == "node1000000"


def test_yaml_boolean_role_name_says_to_quote_it(tmp_path):
    path = write(tmp_path, "roles.yaml", "on: 2\n")
    with pytest.raises(RolesError, match="got the boolean true; quote the role name"):
        read_roles_file(path)
    quoted = write(tmp_path, "quoted.yaml", "'on': 2\n")
    assert hostnames(read_roles_file(quoted)) == {"on": ("on1", "on2")}


def _read_roles_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """``read_roles_file(path)`` in a child limited to 1 GiB of memory (the old code read
    ``/dev/zero`` until memory ran out) and stopped after 60 s (it blocked on a FIFO)."""
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from pathlib import Path\n"
        "from nxc.errors import RolesError\n"
        "from nxc.roles import read_roles_file\n"
        "try:\n"
        "    read_roles_file(Path(sys.argv[1]))\n"
        "except RolesError as error:\n"
        "    print(error)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("zero", "is a character device, not a regular file"),
        ("fifo", "is a FIFO (named pipe), not a regular file"),
    ],
)
def test_a_roles_file_that_is_not_a_regular_file_is_refused(tmp_path, name, expected):
    if name == "fifo":
        path = tmp_path / "roles.yaml"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    done = _read_roles_in_child(path)
    assert done.stderr == ""
    assert done.stdout == f"{path}: {expected}; give a YAML or JSON roles file\n"


def test_a_roles_file_over_one_mib_is_refused(tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text("node: 1\n" + "#" * (1 << 20))
    with pytest.raises(RolesError, match=r"roles.yaml: is larger than 1 MiB, too large"):
        read_roles_file(path)
    path.write_text("node: 1\n" + "#" * ((1 << 20) - 9))
    assert read_roles_file(path)["node"].count == 1


def test_a_role_may_be_placed_on_a_cluster_by_option_or_file(tmp_path):
    option = parse_role_option("osd=cluster:dahu:3")
    assert (option.cluster, option.hostnames) == ("dahu", ("osd1", "osd2", "osd3"))
    listed = parse_role_option("mon=cluster:yeti-2:m1,m2")
    assert (listed.cluster, listed.hostnames) == ("yeti-2", ("m1", "m2"))
    assert parse_role_option("osd=3").cluster is None
    path = write(
        tmp_path, "r.yaml", "osd: {count: 2, cluster: dahu}\nmon: {hostnames: [m], cluster: yeti}\n"
    )
    read = read_roles_file(path)
    assert (read["osd"].cluster, read["osd"].count) == ("dahu", 2)
    assert (read["mon"].cluster, read["mon"].hostnames) == ("yeti", ("m",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("osd=cluster:dahu", "write the cluster, then the count or hostnames"),
        ("osd=cluster:dahu:", "write the cluster, then the count or hostnames"),
        ("osd=cluster:da.hu:2", "'da.hu' is not a cluster name"),
        ("osd=cluster::2", "'' is not a cluster name"),
        ("osd=cluster:dahu:0", "count 0 must be at least 1"),
    ],
)
def test_bad_cluster_placements_are_one_line(text, expected):
    with pytest.raises(RolesError, match=re.escape(expected)):
        parse_role_option(text)


def test_bad_cluster_in_a_roles_file_names_the_line(tmp_path):
    path = write(tmp_path, "r.yaml", "node: 1\nosd: {count: 2, cluster: 3}\n")
    with pytest.raises(
        RolesError, match=r"r\.yaml, line 2: role 'osd': cluster 3 is not a cluster"
    ):
        read_roles_file(path)
    only_cluster = write(tmp_path, "c.yaml", "osd: {cluster: dahu}\n")
    with pytest.raises(RolesError, match="exactly one key, 'count' or 'hostnames'"):
        read_roles_file(only_cluster)


def test_a_role_may_be_placed_on_a_site_and_a_cluster_of_it_by_option_or_file(tmp_path):
    option = parse_role_option("osd=site:nancy:2")
    assert (option.site, option.cluster, option.hostnames) == ("nancy", None, ("osd1", "osd2"))
    both = parse_role_option("osd=site:nancy:cluster:gros:1")
    assert (both.site, both.cluster, both.hostnames) == ("nancy", "gros", ("osd1",))
    listed = parse_role_option("mon=site:lyon_2:m1,m2")
    assert (listed.site, listed.hostnames) == ("lyon_2", ("m1", "m2"))
    assert parse_role_option("osd=cluster:dahu:3").site is None
    path = write(
        tmp_path,
        "r.yaml",
        "osd: {count: 8, site: nancy, cluster: gros}\nmon: {hostnames: [m], site: lyon}\n",
    )
    read = read_roles_file(path)
    assert (read["osd"].site, read["osd"].cluster, read["osd"].count) == ("nancy", "gros", 8)
    assert (read["mon"].site, read["mon"].cluster, read["mon"].hostnames) == ("lyon", None, ("m",))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("osd=site:nancy", "write the site, then the count or hostnames, e.g. 'osd=site:nancy:8'"),
        ("osd=site:nancy: ", "write the site, then the count or hostnames"),
        ("osd=site:nan.cy:2", "'nan.cy' is not a site name (letters, digits, '-' and '_')"),
        ("osd=site::2", "'' is not a site name"),
        ("osd=site:nancy:cluster:gr/os:2", "'gr/os' is not a cluster name"),
        ("osd=site:nancy:cluster:gros", "write the cluster, then the count or hostnames"),
        ("osd=cluster:gros:site:nancy:2", "write the site before the cluster"),
        ("osd=site:nancy:0", "count 0 must be at least 1"),
    ],
)
def test_bad_site_placements_are_one_line(text, expected):
    with pytest.raises(RolesError, match=re.escape(expected)) as caught:
        parse_role_option(text)
    assert "\n" not in str(caught.value)


def test_bad_site_in_a_roles_file_names_the_line(tmp_path):
    path = write(tmp_path, "r.yaml", "node: 1\nosd: {count: 2, site: [nancy]}\n")
    with pytest.raises(
        RolesError,
        match=r"r\.yaml, line 2: role 'osd': site a list is not a site name; write it like "
        r"'site: nancy'",
    ):
        read_roles_file(path)
    dotted = write(tmp_path, "d.yaml", "osd: {count: 2, site: na.ncy}\n")
    with pytest.raises(RolesError, match=r"'na\.ncy' is not a site name"):
        read_roles_file(dotted)
    only_site = write(tmp_path, "s.yaml", "osd: {site: nancy}\n")
    with pytest.raises(RolesError, match="exactly one key, 'count' or 'hostnames'"):
        read_roles_file(only_site)
