"""Every package imports on its own (no import cycle hides behind another import) and exports what
its `__all__` promises."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = [f"killreport.{name}" for name in (
    "budget", "cli", "domain", "esi", "queue", "r2z2", "scheduler", "sim", "store", "sync", "web", "worker")]


def test_each_package_imports_first_in_a_fresh_interpreter() -> None:
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    for name in PACKAGES:  # one interpreter each: the first import is the one a cycle breaks
        done = subprocess.run([sys.executable, "-c", code, name], capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr[-1500:]}"


@pytest.mark.parametrize("name", PACKAGES)
def test_all_names_exist(name: str) -> None:
    package = importlib.import_module(name)
    exported = package.__all__
    assert exported, f"{name} has an empty __all__"
    for item in exported:
        assert hasattr(package, item) or importlib.import_module(f"{name}.{item}"), item
