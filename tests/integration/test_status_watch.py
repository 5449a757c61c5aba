"""`status --watch` redraws in place on a terminal, shows rates and the budget, and Ctrl-C exits 0."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import sys

from tests.cluster import env_for, migrated


async def test_watch_redraws_and_ctrl_c_exits_0(fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    await migrated(fresh_pg_url)
    env = {**env_for(fresh_pg_url, fresh_rabbit_url, "http://127.0.0.1:9"), "COLUMNS": "120", "LINES": "120",
           "TERM": "xterm"}
    leader, follower = pty.openpty()  # a real terminal: rich redraws in place only on one
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "killreport", "status", "--watch", env=env,
        stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    screen = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while screen.count(b"requests/s") < 3 and loop.time() < deadline:
        screen += await loop.run_in_executor(None, os.read, leader, 65536)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    code = await asyncio.wait_for(proc.wait(), 15)
    os.close(leader)
    assert screen.count(b"requests/s") >= 3, screen[-2000:]
    assert b"\x1b[" in screen and b"error limit left" in screen and b"Freshness" in screen
    assert code == 0
