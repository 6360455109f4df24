"""The broadcast's pure parts: identity files, TakTuk arguments, argument checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from nxc.errors import InputError
from nxc.flavours.g5k import kexec
from nxc.platforms import broadcast


def test_identity_files_are_found_in_every_openssh_spelling():
    options = ["-i", "/k1", "-i/k2", "-o", "IdentityFile=/k3", "-oIdentityFile=~/k4",
               "-o", "UserKnownHostsFile=/kh", "-F", "/config"]  # fmt: skip
    assert broadcast.identity_files(options) == ["/k1", "/k2", "/k3", "~/k4"]


def test_the_receiving_script_is_the_parallel_copys_and_its_delimiter_is_none_of_its_words():
    digest = "ab" * 32
    script = broadcast.receive_script("/tmp/nxc-kexec", digest)
    assert kexec._receive("/tmp/nxc-kexec", digest) in script
    argv = broadcast.taktuk_argv(
        "taktuk", kexec.HostShell("root", ("-i", "/key"), "/usr/bin/ssh"), ["h1", "h2"],
        {digest: Path("/tmp/x/" + digest)}, "/tmp/nxc-kexec", ("-o", "A=b"), 2, 60, 10,
    )  # fmt: skip
    index = argv.index(script)
    assert argv[index - 1] == argv[index + 1] not in script.split()
    # the root connects with the shell's options, every host with the relay options
    assert argv[argv.index("-c") + 1].startswith("/usr/bin/ssh -A ")
    assert "-i /key" in argv[argv.index("-c") + 1]
    assert argv[argv.index("h1") : argv.index("h1") + 5] == [
        "h1", "-[", "-c", broadcast.connector("ssh", "root", ("-o", "A=b"), 10), "-]",
    ]  # fmt: skip
    assert argv[argv.index("-d") + 1] == "2"


def test_unusable_arguments_are_refused_in_one_line(tmp_path):
    shell = kexec.HostShell("root", (), "ssh")
    real = tmp_path / "f"
    real.write_text("x")
    digest = kexec.sha256_of(real)
    cases = [
        (["h1"], {"nothex": real}, {}, "not SHA-256 hex digests"),
        (["h1"], {digest: tmp_path / "missing"}, {}, "not a file"),
        (["h1", "h1"], {digest: real}, {}, "more than once: h1"),
        (["h1"], {digest: real}, {"arity": 0}, "arity of 0"),
        (["h1"], {digest: real}, {"concurrency": 0}, "1 or more"),
    ]
    for hosts, files, options, message in cases:
        with pytest.raises(InputError, match=message):
            broadcast.broadcast_files(shell, hosts, files, **options)
