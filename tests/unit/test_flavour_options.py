"""Flavour options: one checked value per flavour, built from keywords."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from nxc.cli.flags import FLAGS
from nxc.errors import InputError
from nxc.flavours.options import FlavourOptions


@dataclass(frozen=True)
class Options(FlavourOptions):
    cpus: int = 1


def test_keywords_become_the_flavours_options() -> None:
    options = Options.from_keywords("vm", {"cpus": 2, "timeout": 30})
    assert options == Options(timeout=30, cpus=2)
    assert Options.names() == ("timeout", "cpus") and Options.takes("cpus")
    assert options.replace(cpus=4).cpus == 4


def test_an_option_the_flavour_does_not_take_is_named_in_one_line() -> None:
    with pytest.raises(InputError) as raised:
        Options.from_keywords("docker", {"memory": "1G", "accel": "kvm"})
    assert str(raised.value) == "accel, memory do not apply to the docker flavour; drop them"
    assert raised.value.render(FLAGS) == (
        "--accel, --memory do not apply to the docker flavour; drop them"
    )


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "10"])
def test_a_timeout_must_be_positive_seconds(timeout: object) -> None:
    with pytest.raises(InputError, match=r"timeout .* must be a positive number of seconds"):
        FlavourOptions(timeout=timeout)  # type: ignore[arg-type]


def test_the_kernel_parameters_a_flavour_boots_with_are_words() -> None:
    """What the journal's provenance records (``Flavour.kernel_params``)."""
    from nxc.flavours import get_flavour

    vm = get_flavour("vm", kernel_params=("quiet", "mitigations=off console=ttyS0"))
    assert vm.kernel_params == ("quiet", "mitigations=off", "console=ttyS0")
    kexec = get_flavour("g5k-ramdisk", kernel_params=("a=1 b=2",))
    assert kexec.kernel_params == ("a=1", "b=2")
    assert get_flavour("docker").kernel_params == ()
