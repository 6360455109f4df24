"""KVM or TCG: decided by a real test boot, cached per QEMU version and kernel."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from nxc.flavours.vm import qemu

pytestmark = pytest.mark.vm


def test_accel_is_detected_by_a_real_boot_and_cached(
    testbed_guest: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    qemu_bin = shutil.which(qemu.QEMU)
    assert qemu_bin, "qemu-system-x86_64 must be installed"
    kernel = testbed_guest[0]
    chosen = qemu.choose_accel(qemu_bin, kernel)
    cache = tmp_path / "nxc" / "accel.json"
    if qemu.kvm_may_work():
        assert chosen == ("kvm" if qemu.kvm_boots(qemu_bin, kernel) else "tcg")
        assert list(json.loads(cache.read_text()).values()) == [chosen]
        began = time.monotonic()
        assert qemu.choose_accel(qemu_bin, kernel) == chosen
        assert time.monotonic() - began < 2, "the cached answer must not boot again"
    else:
        # No usable /dev/kvm, or a PVM host: KVM really cannot boot this kernel here.
        assert chosen == "tcg"
        assert not cache.exists()
        assert qemu.kvm_boots(qemu_bin, kernel, timeout=8) is False
