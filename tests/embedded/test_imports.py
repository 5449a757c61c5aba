"""An embedded command never loads the distributed mode's libraries (nor the web site's).

aio-pika, asyncpg and the site cost ~0.2 s of every process's start (python -X importtime); wiring,
services and the package __init__s import them only where the distributed mode or `web` needs them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.embedded.sqlite_files import db_file, migrated_template

__all__ = ["db_file", "migrated_template"]  # fixtures

DISTRIBUTED_ONLY = ("aio_pika", "aiormq", "asyncpg", "killreport.queue.rabbit", "killreport.budget.pg",
                    "killreport.store.postgres", "killreport.web")

# Runs the CLI as `killreport` does, then says which of DISTRIBUTED_ONLY were loaded, at exit.
_PROBE = """
import atexit, sys
watched = sys.argv[1].split(",")
atexit.register(lambda: print("LOADED", ",".join(m for m in watched if m in sys.modules)))
from killreport.cli.main import main
main(sys.argv[2:])
"""


def _loaded(db: Path, watched: tuple[str, ...], *command: str) -> list[str]:
    """Which of `watched` the command loaded (it must succeed)."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/"}
    done = subprocess.run([sys.executable, "-c", _PROBE, ",".join(watched), *command],
                          capture_output=True, text=True, env=env, cwd=db.parent, timeout=60)
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stdout.splitlines() if x.startswith("LOADED")][-1]
    return [m for m in line.removeprefix("LOADED").strip().split(",") if m]


@pytest.mark.parametrize("command", [("status", "--json"), ("queue", "alliance", "99000001")])
def test_an_embedded_command_loads_nothing_of_the_distributed_mode(db_file: Path,
                                                                   command: tuple[str, ...]) -> None:
    assert _loaded(db_file, DISTRIBUTED_ONLY, *command) == []


def test_the_probe_sees_what_a_command_loads(db_file: Path) -> None:
    # So the test above cannot pass by never seeing anything.
    sqlite_store = "killreport.store.sqlite.store"
    assert _loaded(db_file, (sqlite_store, *DISTRIBUTED_ONLY), "status", "--json") == [sqlite_store]
