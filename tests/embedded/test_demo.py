"""The README's first command, as a newcomer runs it: scripts/demo with nothing but Python, ending with
kills from the simulator's feed in the copy.

scripts/test runs this folder through scripts/offline, where neither PostgreSQL, RabbitMQ nor the
internet is reachable: the demo must install from what .venv already holds (scripts/install's stamp)
and sync into a SQLite file with no service at all.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path

import pytest

from tests.cluster import NO_BROKER

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_demo_syncs_a_small_universe_into_a_file_and_shows_it(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ESI_", "DATABASE_", "RABBITMQ_", "R2Z2_", "KILLMAIL_"))}
    env.update(DEMO_DATABASE_URL=f"sqlite:///{db}", SIM_PORT=str(_free_port()), RABBITMQ_URL=NO_BROKER,
               ESI_DAILY_DOWNTIME="false", LOG_LEVEL="WARNING",
               # Not about the downtime: a demo that runs at 11:00 UTC must not wait two minutes for it.
               SIM_ARGS="--daily-downtime-s 0")
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / "scripts" / "demo"), "25", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 200)
    text = out.decode() + err.decode()
    assert proc.returncode == 0, text[-4000:]
    assert "this process works them" in text
    assert "stored alliances" in text and "25" in text
    assert db.exists() and not (tmp_path / "killreport-demo.db").exists()
    found = re.search(r"^(\d+) kills in the copy, from the simulator's R2Z2 feed", text, re.MULTILINE)
    assert found and int(found[1]) >= 20, text[-3000:]
    assert "/api/killmails?after=0&limit=10" in text
