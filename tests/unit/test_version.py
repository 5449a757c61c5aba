"""One version, declared in pyproject.toml: the installed metadata, `killreport --version` and the
ESI User-Agent all say it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from killreport.cli.main import build_app

ROOT = Path(__file__).resolve().parents[2]


def installed() -> str:
    return importlib.metadata.version("killreport")


def test_the_installed_metadata_is_pyprojects_version() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert installed() == declared, "run scripts/install: the installed metadata is stale"


def test_version_prints_the_metadata_version(capsys: pytest.CaptureFixture[str]) -> None:
    # The command tree alone: `run` would also configure logging for the rest of this process.
    build_app()(["--version"], exit_on_error=False, result_action="return_value")
    assert capsys.readouterr().out.strip() == installed()


def test_the_command_prints_it_and_exits_0() -> None:
    done = subprocess.run([sys.executable, "-m", "killreport", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, installed(), "")
