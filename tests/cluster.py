"""Running killreport as real processes against a database, a vhost and a simulator, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from killreport.store import migrate


def env_for(pg_url: str, rabbit_url: str, esi_url: str, **extra: str) -> dict[str, str]:
    """The environment a killreport process needs to talk to these services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESI_", "DATABASE_", "RABBITMQ_"))}
    env.update(DATABASE_URL=pg_url, RABBITMQ_URL=rabbit_url, ESI_BASE_URL=esi_url,
               ESI_CONTACT="tests@killreport.invalid", RETRY_DELAYS_S="[1, 2, 3]", LOG_LEVEL="WARNING")
    env.update(extra)
    return env


@dataclass
class Done:
    """A finished command."""

    code: int
    out: str
    err: str


async def cli(env: Mapping[str, str], *args: str, timeout_s: float = 120.0,
              stdin: bytes | None = None) -> Done:
    """Run `killreport ARGS` to completion."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "killreport", *args, env=dict(env), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    return Done(code=proc.returncode or 0, out=out.decode(), err=err.decode())


@asynccontextmanager
async def workers(env: Mapping[str, str], count: int = 1, *args: str) -> AsyncIterator[
        list[asyncio.subprocess.Process]]:
    """`count` worker processes (default: all kinds), stopped with SIGTERM at the end."""
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "killreport", "worker", *(args or ("all",)), env=dict(env),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE) for _ in range(count)]
    try:
        yield procs
    finally:
        for p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 40)
            except TimeoutError:
                p.kill()
                await p.wait()


async def migrated(pg_url: str) -> str:
    """Run the migrations on a database and return its URL."""
    await asyncio.to_thread(migrate.upgrade, pg_url)
    return pg_url
