"""Kill benchmarks on a fresh SQLite file (embedded mode): a day's back-fill, or following the feed.

Run: .venv/bin/python bench/killmails.py [--kills 15000] [--alliances 300] [--batch 500] [--keep DIR]
     .venv/bin/python bench/killmails.py --follow 600 [--max-rps 10] [--alliances 300]

--follow N: the simulator publishes N kills at once (the head pointer on the first), and `killreport
killmails follow --from FIRST` follows them as a process of its own at R2Z2_MAX_RPS (no worker: what
the kills name is queued, not fetched). It is stopped (SIGTERM) once it holds all N; its CPU seconds
per kill stored (participants and discovery included; with the start-up, and from the first kill
stored on) and peak RSS are printed.

Back-fill (the default):
The simulator runs in this process on a clock a day behind (R2Z2 publishes a day's files once the day
is over), publishes --kills kills on that day, and serves its feed; `killreport killmails backfill
--from DAY` then runs as a process of its own, alone on a new SQLite file (no broker: RABBITMQ_URL is
a closed port). Its CPU seconds and peak RSS (children included) are sampled every 0.2 s until it
exits. Prints one JSON object: wall time, CPU seconds and per kill, the share of one core kept busy,
peak RSS, the kills stored against the day's truth (ids and hashes), the requests R2Z2 and ESI saw
(ESI should see none: the raw file has every body), the command's exit code and the options.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from common import KR
from embedded import NO_BROKER, Sampler
from killreport.sim.feed import FIRST_SEQUENCE, day_of
from killreport.sim.testing import running_sim
from killreport.store import tables as t
from killreport.store.sqlite.engine import open_engine


def _a_day_ago() -> Any:
    noon = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    started = time.time()
    return lambda: noon.timestamp() + (time.time() - started)


def _env(db_url: str, esi_url: str, r2z2_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ESI_", "DATABASE_", "RABBITMQ_", "R2Z2_"))}
    env.update(DATABASE_URL=db_url, RABBITMQ_URL=NO_BROKER, ESI_BASE_URL=esi_url, R2Z2_URL=r2z2_url,
               ESI_CONTACT="bench@killreport.invalid", ESI_DAILY_DOWNTIME="false", LOG_LEVEL="WARNING")
    return env


async def _sampled(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int, int, str]:
    """Run the command to its end: wall seconds, CPU seconds, peak RSS bytes, exit code, stderr's tail."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = await asyncio.create_subprocess_exec(*cmd, env=env, cwd=cwd, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=err)
        sampler = Sampler(proc.pid)
        sampler.start()
        # The last CPU times are read from the exited, not yet reaped, process.
        while True:
            await asyncio.sleep(0.05)
            try:
                if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                    break
            except ChildProcessError:
                break
        wall = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        sampler.sample()
        code = await proc.wait()
        err.seek(0)
        tail = err.read().decode(errors="replace")[-600:]
    return wall, sampler.cpu_s(), sampler.peak_rss, code, tail


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="kr-bench-killmails-", dir=args.keep)
    db_url = f"sqlite:///{Path(folder) / 'killreport.db'}"
    async with running_sim(clock=_a_day_ago(), alliances=args.alliances, r2z2_today=True, kill_late_share=0,
                           r2z2_per_s=0) as sim:
        day = day_of(sim.sim.clock())
        published = time.monotonic()
        sim.sim.feed.publish(args.kills, late=False)
        publish_s = time.monotonic() - published
        truth = {k["killmail_id"]: k["hash"] for k in (await sim.control.kills())["kills"]}
        await sim.control.reset_stats()
        cmd = [*KR, "killmails", "backfill", "--from", f"{day[:4]}-{day[4:6]}-{day[6:]}", "--batch",
               str(args.batch)]
        wall, cpu, rss, code, tail = await _sampled(cmd, _env(db_url, sim.base_url, sim.r2z2_url), folder)
        stats = await sim.control.stats()
    engine = open_engine(db_url)
    async with engine.connect() as conn:
        stored = {int(r.killmail_id): str(r.hash) for r in await conn.execute(
            select(t.killmails.c.killmail_id, t.killmails.c.hash))}
    await engine.dispose()
    if not args.keep:
        shutil.rmtree(folder)
    esi = sum(n for route, counts in stats["by_route"].items() for n in counts.values())
    return {"day": day, "kills": args.kills, "exit_code": code, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "cpu_ms_per_kill": round(1000 * cpu / max(len(stored), 1), 3),
            "cores_busy": round(cpu / wall, 2) if wall else None, "peak_rss_mb": round(rss / 2**20, 1),
            "stored": len(stored), "equal_to_truth": stored == truth, "r2z2_requests": stats["r2z2"],
            "esi_requests": esi, "simulator_publish_s": round(publish_s, 2),
            "stderr_tail": tail if code else None,
            "options": {"kills": args.kills, "alliances": args.alliances, "batch": args.batch}}


async def follow(args: argparse.Namespace) -> dict[str, Any]:
    """Follow --follow kills at --max-rps: wall, CPU per kill, peak RSS."""
    folder = tempfile.mkdtemp(prefix="kr-bench-follow-", dir=args.keep)
    db_url = f"sqlite:///{Path(folder) / 'killreport.db'}"
    async with running_sim(alliances=args.alliances, r2z2_per_s=0, r2z2_sequence_every=1,
                           r2z2_retention_s=86400.0) as sim:
        sim.sim.feed.publish(args.follow, late=False)
        env = _env(db_url, sim.base_url, sim.r2z2_url) | {"R2Z2_MAX_RPS": str(args.max_rps)}
        cmd = [*KR, "killmails", "follow", "--from", str(FIRST_SEQUENCE)]
        started = time.monotonic()
        quiet = asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(*cmd, env=env, cwd=folder, stdout=quiet, stderr=quiet)
        sampler = Sampler(proc.pid)
        sampler.start()
        first = await _until_stored(db_url, 1)  # start-up (imports, schema, the 6 s settle) is behind
        sampler.sample()
        first_cpu, first_at = sampler.cpu_s(), time.monotonic()
        stored = await _until_stored(db_url, args.follow)
        wall = time.monotonic() - started
        sampler.sample()
        cpu, rss = sampler.cpu_s(), sampler.peak_rss
        steady = (cpu - first_cpu) / max(stored - first, 1)
        steady_rate = (stored - first) / (time.monotonic() - first_at)
        proc.send_signal(signal.SIGTERM)
        code = await proc.wait()
        sampler.stop.set()
        sampler.join()
        stats = await sim.control.stats()
    if not args.keep:
        shutil.rmtree(folder)
    return {"mode": "follow", "kills": args.follow, "stored": stored, "exit_code": code,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "cpu_ms_per_kill": round(1000 * cpu / max(stored, 1), 3),
            "cpu_ms_per_kill_after_the_first": round(1000 * steady, 3),
            "kills_per_s_after_the_first": round(steady_rate, 2), "peak_rss_mb": round(rss / 2**20, 1),
            "kills_per_s": round(stored / wall, 2) if wall else None,
            "r2z2_requests": stats["r2z2"]["requests"],
            "r2z2_max_per_s": stats["r2z2"]["max_per_s"],
            "options": {"follow": args.follow, "max_rps": args.max_rps, "alliances": args.alliances}}


async def _until_stored(db_url: str, count: int, within_s: float = 3600.0) -> int:
    """Poll the file until it holds `count` kills (or `within_s` passed): how many it holds."""
    deadline, held = time.monotonic() + within_s, 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if not Path(db_url.removeprefix("sqlite:///")).exists():
            continue
        engine = open_engine(db_url)
        try:
            async with engine.connect() as conn:
                held = int((await conn.execute(select(func.count()).select_from(t.killmails))).scalar_one())
        except Exception:  # the schema is not there yet: the process is still starting
            held = 0
        finally:
            await engine.dispose()
        if held >= count:
            break
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--follow", type=int, default=0, help="follow this many kills instead of a back-fill")
    parser.add_argument("--max-rps", type=int, default=10, help="R2Z2_MAX_RPS when following")
    parser.add_argument("--kills", type=int, default=15_000)
    parser.add_argument("--alliances", type=int, default=300)
    parser.add_argument("--batch", type=int, default=500, help="kills saved per transaction (--batch)")
    parser.add_argument("--keep", help="make the folder under this one and keep it (default: the system's "
                        "temporary folder, removed at the end)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(follow(args) if args.follow else run(args)), indent=2))


if __name__ == "__main__":
    main()
