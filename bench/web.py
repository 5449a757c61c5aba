"""Latency of `killreport web`: p50/p95/p99 of GET /alliances/{id} for an alliance of 600 corporations.

Run: .venv/bin/python bench/web.py [--members 600] [--requests 500] [--universe 25000]
Fills a private database through the store (the upserts the workers use): one alliance with
`--members` member corporations, each with a CEO, 50 recorded changes, and `--universe` more
corporations and as many characters so search runs over a copy of realistic size. Then starts the
real command (`killreport web --port 0`, on 127.0.0.1) and times sequential keep-alive requests
of the alliance page, its JSON member list, a corporation page and a search. Prints one JSON object.
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

from killreport.changes import Change
from killreport.config import sqlalchemy_url
from killreport.domain import models
from killreport.store import changes, jobs, migrate
from killreport.store.facts import CacheFacts

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
ALLIANCE = 99_000_001
FIRST_CORPORATION = 98_000_000
FIRST_CHARACTER = 90_000_000
FOUNDED = "2012-01-02T03:04:05Z"


def facts() -> CacheFacts:
    """Cache facts of an answer received now, current for an hour."""
    now = dt.datetime.now(dt.UTC)
    return CacheFacts(fetched_at=now, expires_at=now + dt.timedelta(hours=1), etag='"b"', last_modified=now)


def corporation(n: int, alliance_id: int | None) -> models.Corporation:
    """The n-th corporation, with a description of up to 300 characters."""
    return models.Corporation(
        name=f"Bench Corporation {n:06d}", ticker=f"B{n:04d}"[-5:], member_count=1 + n % 250,
        description="Fly safe o7 <br>" * (n % 20), friendly_fire="legal", home_station_id=60003760,
        shares=1000, state="active", type="player_owned", war_eligible=True,
        tax_rates=models.TaxRates(isk=0.1, loyalty_point=0.0), alliance_id=alliance_id,
        ceo_id=FIRST_CHARACTER + n, creator_id=FIRST_CHARACTER + n, date_founded=FOUNDED)


def character(n: int) -> models.Character:
    """The n-th character: the CEO and creator of the n-th corporation."""
    return models.Character(name=f"Bench Pilot {n:06d}", birthday="2010-01-01T00:00:00Z", bloodline_id=1,
                            race_id=1, corporation_id=FIRST_CORPORATION + n, gender="male",
                            achievement_score=0)


async def fill(url: str, members: int, universe: int) -> None:
    """The alliance, its members and their CEOs, its changes, and the rest of the universe."""
    engine = create_async_engine(sqlalchemy_url(url))
    async with engine.begin() as db:
        await jobs.store(db, ALLIANCE, models.Alliance(
            name="Bench Alliance", ticker="BENCH", creator_id=FIRST_CHARACTER,
            creator_corporation_id=FIRST_CORPORATION, date_founded=FOUNDED,
            executor_corporation_id=FIRST_CORPORATION), facts())
        for n in range(members + universe):
            member_of = ALLIANCE if n < members else None
            await jobs.store(db, FIRST_CORPORATION + n, corporation(n, member_of), facts())
            await jobs.store(db, FIRST_CHARACTER + n, character(n), facts())
        member_ids = range(FIRST_CORPORATION, FIRST_CORPORATION + members)
        await jobs.replace_members(db, ALLIANCE, member_ids, facts())
        await changes.record(db, [Change("alliance", ALLIANCE, "executor_corporation_id", member_ids[i],
                                         member_ids[i + 1]) for i in range(min(50, members - 1))])
    await engine.dispose()


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95, p99, max and mean of the samples, rounded."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(cuts[49], 2), "p95": round(cuts[94], 2), "p99": round(cuts[98], 2),
            "max": round(max(samples), 2), "mean": round(statistics.fmean(samples), 2)}


async def timed(session: aiohttp.ClientSession, url: str, count: int,
                warmup: int) -> tuple[dict[str, float], int]:
    """Milliseconds per request (the body read included) over `count` sequential requests."""
    samples: list[float] = []
    size = 0
    for i in range(warmup + count):
        started = time.perf_counter()
        async with session.get(url) as resp:
            body = await resp.read()
            assert resp.status == 200, (url, resp.status, body[:200])
        if i >= warmup:
            samples.append((time.perf_counter() - started) * 1000)
        size = len(body)
    return percentiles(samples), size


async def serve(url: str) -> tuple[asyncio.subprocess.Process, str]:
    """`killreport web --port 0` over the database; the process and its base URL."""
    env = {**os.environ, "DATABASE_URL": url, "WEB_TOKEN": "", "LOG_LEVEL": "WARNING",
           "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "killreport", "web", "--port", "0",
                                                env=env, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    return proc, line.rsplit(" ", 1)[-1].strip().rstrip("/")


async def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Time each page and API request against the real command."""
    proc, base = await serve(url)
    out: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for name, path, count in (
                    ("alliance_page", f"/alliances/{ALLIANCE}", args.requests),
                    ("api_alliance", f"/api/alliances/{ALLIANCE}", args.requests),
                    ("api_members_1000", f"/api/alliances/{ALLIANCE}/corporations?per_page=1000",
                     args.requests),
                    ("corporation_page", f"/corporations/{FIRST_CORPORATION + 7}", args.requests),
                    ("search_exact_ticker", "/search?q=BENCH", args.requests // 5),
                    ("search_substring", "/search?q=pilot+0001", args.requests // 5)):
                ms, size = await timed(session, base + path, count, args.warmup)
                out[name] = {"path": path, "requests": count, "bytes": size, "ms": ms}
    finally:
        proc.terminate()
        await proc.wait()
    return out


async def main() -> None:
    """Make the database, fill it, measure, drop it, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=600)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--universe", type=int, default=25_000)
    args = parser.parse_args()
    name = f"kr_bench_web_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        started = time.perf_counter()
        await fill(url, args.members, args.universe)
        filled_s = time.perf_counter() - started
        results = await measure(url, args)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    print(json.dumps({"members": args.members, "corporations": args.members + args.universe,
                      "characters": args.members + args.universe, "fill_s": round(filled_s, 1),
                      "date": dt.date.today().isoformat(), **results}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
