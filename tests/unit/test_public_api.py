"""The public surface: ``nxc.__all__`` names every error nxc raises and the result types."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import nxc
from nxc.errors import NxcError


def _every_subclass(root: type) -> set[type]:
    found: set[type] = set()
    todo = [root]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def test_every_error_class_of_nxc_is_public_and_in_the_one_tree():
    for module in pkgutil.walk_packages(nxc.__path__, "nxc."):
        if module.name != "nxc.__main__":
            importlib.import_module(module.name)
    errors = {cls for cls in _every_subclass(NxcError) if cls.__module__.startswith("nxc")}
    assert {cls.__module__ for cls in errors} == {"nxc.errors"}
    assert {cls.__name__ for cls in errors} | {"NxcError"} <= set(nxc.__all__)
    for name in nxc.__all__:
        assert getattr(nxc, name) is not None


def test_lazy_names_resolve_and_import_nxc_stays_light():
    assert nxc.GroupResult.__module__ == "nxc.fanout"
    assert nxc.open_deployment.__module__ == "nxc.api"
    probe = "import sys, nxc; print(sorted(m for m in ('nxc.api', 'nxc.fanout', 'asyncssh') if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
