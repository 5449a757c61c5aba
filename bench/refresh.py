"""Steady-state cost of keeping a copy fresh, measured on the simulator and scaled to ESI's cache times.

Run: .venv/bin/python bench/refresh.py [--alliances 3550] [--cache-scale 0.05] [--periods 2]
     [--latency-ms 50] [--jitter-ms 20]

One `killreport run` process (scheduler + workers) against `killreport sim --cache-scale S`: it first
syncs everything (that request count is what a naive full re-sync costs each hour), then the
simulator's counters are reset and `--periods` alliance cache periods are measured with no changes.
Every route's requests per period are the same at any scale, so at ESI's real cache times they cost
`measured per second * S * 3600` an hour. Characters (cached a day) barely come due in the window:
their GETs are counted as one per stored character per day, the rate the scheduler holds them to.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import uuid
from typing import Any

import asyncpg

from common import KR, setup, sim_get, sim_post, start_sim, teardown

CHARACTER_ROUTE = "GET /characters/{character_id}"
_STORED = ("SELECT (SELECT count(*) FROM alliances) + (SELECT count(*) FROM corporations)"
           " + (SELECT count(*) FROM characters c WHERE NOT EXISTS"
           "    (SELECT 1 FROM character_tombstones d WHERE d.id = c.id))"
           " + (SELECT count(*) FROM character_tombstones)")
DAY_S, HOUR_S = 86400, 3600


def env_for(args: argparse.Namespace, pg_url: str, amqp_url: str, sim_url: str) -> dict[str, str]:
    """Refresh as often as the scaled caches allow (every corporation hourly and every character
    daily: the rule before the tiers, which the numbers in docs/performance.md measured)."""
    scaled = {"ALLIANCE": HOUR_S, "CORPORATION": HOUR_S, "CORPORATION_DORMANT": HOUR_S, "CHARACTER": DAY_S,
              "AFFILIATION": HOUR_S}
    return {**os.environ, "DATABASE_URL": pg_url, "RABBITMQ_URL": amqp_url, "ESI_BASE_URL": sim_url,
            "ESI_CONTACT": "bench@killreport.invalid", "LOG_LEVEL": "WARNING", "KILLMAIL_FEED": "false",
            **{f"REFRESH_MIN_AGE_{k}": str(v * args.cache_scale) for k, v in scaled.items()}}


async def synced(sim_url: str, pg_url: str) -> dict[str, Any]:
    """Wait until the copy holds every entity of the truth; the simulator's counters then.

    (Waiting for the simulator to go quiet does not work: refreshes start one cache period after
    the first answers, which at a small scale is before a large first sync ends.)
    """
    truth = await sim_get(sim_url, "/_sim/truth")
    wanted = sum(len(truth[k]) for k in ("alliances", "corporations", "characters", "deleted_characters"))
    conn = await asyncpg.connect(pg_url)
    try:
        while await _stored(conn) < wanted:
            await asyncio.sleep(1)
    finally:
        await conn.close()
    return dict(await sim_get(sim_url, "/_sim/stats"))


async def _stored(conn: asyncpg.Connection) -> int:
    """Entities the copy holds; 0 until `killreport run` has migrated the database."""
    try:
        return int(await conn.fetchval(_STORED))
    except asyncpg.UndefinedTableError:
        return 0


def per_hour(by_route: dict[str, dict[str, int]], window_s: float, scale: float,
             characters: int) -> dict[str, dict[str, int]]:
    """Measured requests by route and status, as an hour at ESI's real cache times."""
    out = {route: {status: round(n / window_s * scale * HOUR_S) for status, n in statuses.items()}
           for route, statuses in by_route.items() if route != CHARACTER_ROUTE}
    out[CHARACTER_ROUTE] = {"304 or 200": math.ceil(characters * HOUR_S / DAY_S)}
    return out


async def measure(args: argparse.Namespace, sim_url: str, pg_url: str) -> dict[str, Any]:
    """The first sync's cost, then the measured window."""
    initial = await synced(sim_url, pg_url)
    truth = await sim_get(sim_url, "/_sim/truth")
    await sim_post(sim_url, "/_sim/stats/reset")
    window_s = args.periods * HOUR_S * args.cache_scale
    await asyncio.sleep(window_s)
    steady = await sim_get(sim_url, "/_sim/stats")
    return {"initial": initial, "steady": steady, "window_s": window_s, "truth": truth}


def report(args: argparse.Namespace, m: dict[str, Any]) -> dict[str, Any]:
    """The JSON the benchmark prints."""
    characters = len(m["truth"]["characters"])
    hourly = per_hour(m["steady"]["by_route"], m["window_s"], args.cache_scale, characters)
    total = sum(sum(s.values()) for s in hourly.values())
    statuses = [s for r, s in m["steady"]["by_route"].items() if r != CHARACTER_ROUTE]
    answered = sum(sum(s.values()) for s in statuses)
    not_modified = sum(s.get("304", 0) for s in statuses)
    naive = m["initial"]["requests"]
    both = (m["initial"], m["steady"])
    return {
        "setup": vars(args), "window_s": m["window_s"], "characters": characters,
        "initial_sync_requests": naive,
        "steady_requests_per_hour": total, "steady_by_route_per_hour": hourly,
        "naive_full_resync_per_hour": naive, "steady_over_naive": round(total / naive, 3),
        "share_304_in_window": round(not_modified / answered, 3) if answered else None,
        "served_420": sum(x["limit_violations"]["420"] for x in both),
        "cache_violations": sum(x["cache_violations"]["total"] for x in both),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up, run, measure, tear down."""
    name = f"kr_bench_{uuid.uuid4().hex[:8]}"
    pg_url, amqp_url = await setup(name)
    sim, sim_url = start_sim(args, "--cache-scale", str(args.cache_scale))
    runner = subprocess.Popen([*KR, "run"], env=env_for(args, pg_url, amqp_url, sim_url))
    try:
        measured = await measure(args, sim_url, pg_url)
    finally:
        runner.terminate()
        runner.wait(60)
        sim.terminate()
        sim.wait(30)
        await teardown(name)
    return report(args, measured)


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alliances", type=int, default=3550)
    parser.add_argument("--cache-scale", type=float, default=0.05)
    parser.add_argument("--periods", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--jitter-ms", type=float, default=20)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
