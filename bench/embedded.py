"""Embedded benchmark: the simulator + `killreport sync-all --wait` alone on a fresh SQLite file.

Run: .venv/bin/python bench/embedded.py [--alliances 3550] [--latency-ms 50] [--jitter-ms 20]
     [--concurrency N] [--max-inflight 32] [--deleted-characters N] [--profile FILE] [--keep DIR]
No broker: RABBITMQ_URL points at a closed port, so a process that reached for one would fail.
The one process takes the file's runner lock and does the whole job. Its CPU and RSS (children
included, if any) are sampled every 0.2 s until it exits; the file is then compared with the
simulator's truth (tests/truth.py). Prints one JSON object: wall time, requests by status,
requests/s against the bound of ESI_MAX_INFLIGHT requests always in flight (max_inflight / mean
latency), entities stored, CPU seconds and milliseconds per entity, the share of one core kept busy,
peak RSS, 420s/429s, cache violations, how full the in-flight cap was kept (mean in flight and
seconds under half of it, as the simulator saw them), the errors each of ESI's error-limit windows
counted, equal_to_truth (with the first differences if not) and the options. The simulator's
latency is latency + uniform(0, jitter): the default is 50-70 ms, mean 60; 50 +- 20 ms (30-70,
mean 50) is `--latency-ms 30 --jitter-ms 40`.
--profile FILE: run the process under cProfile and write its stats to FILE (slows it down).
--py-spy FILE: sample the process with py-spy (`pip install py-spy`) into FILE, raw (collapsed)
stacks of every thread; --py-spy-gil: only samples holding the GIL (CPU in Python, not waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, select

from common import KR, inflight_bound, inflight_profile, requests_by_status, sim_get, start_sim
from killreport.store import tables as t
from killreport.store.sqlite.engine import open_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.truth
from tests.truth import diff_against_truth

NO_BROKER = "amqp://guest:guest@127.0.0.1:1/"  # a closed port: reaching for RabbitMQ fails at once


class Sampler(threading.Thread):
    """Peak RSS and CPU seconds of one process and its children, every 0.2 s until it exits."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak_rss = 0
        self.cpu: dict[int, float] = {}  # pid -> its last seen user+system seconds
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.2)

    def sample(self) -> None:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = 0
        for proc in procs:
            try:
                with proc.oneshot():
                    rss += proc.memory_info().rss
                    times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            self.cpu[proc.pid] = times.user + times.system
        self.peak_rss = max(self.peak_rss, rss)

    def cpu_s(self) -> float:
        return sum(self.cpu.values())


def _command(args: argparse.Namespace) -> list[str]:
    if args.profile:
        out = str(Path(args.profile).resolve())
        return [sys.executable, "-m", "cProfile", "-o", out, "-m", "killreport", "sync-all", "--wait"]
    return [*KR, "sync-all", "--wait"]


def _spy(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes] | None:
    if not args.py_spy:
        return None
    spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--threads",
           "--rate", "200", "-o", str(Path(args.py_spy).resolve()), "--pid", str(pid)]
    return subprocess.Popen([*spy, *(["--gil"] if args.py_spy_gil else [])], stdout=subprocess.DEVNULL)


def _run_and_sample(args: argparse.Namespace, cmd: list[str], env: dict[str, str],
                    cwd: str) -> tuple[float, float, int, str]:
    """Run the command to its end: wall seconds, CPU seconds, peak RSS bytes, its stderr tail."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        sampler = Sampler(proc.pid)
        sampler.start()
        spy = _spy(args, proc.pid)
        # The final CPU times are read from the exited (not yet reaped) process.
        while True:
            try:
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        wall = time.monotonic() - started
        sampler.stop.set()
        sampler.join()
        sampler.sample()
        code = proc.wait()
        if spy is not None:
            spy.wait(60)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-3000:]
    if code != 0:
        raise SystemExit(f"sync-all --wait exited {code}: {tail}")
    return wall, sampler.cpu_s(), sampler.peak_rss, tail


async def _stored(db_url: str, sim_url: str) -> tuple[dict[str, int], list[str]]:
    engine = open_engine(db_url)
    try:
        async with engine.connect() as conn:
            counts = {name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
                      for name, table in (("alliances", t.alliances), ("corporations", t.corporations),
                                          ("characters", t.characters))}
        problems = await diff_against_truth(engine, await sim_get(sim_url, "/_sim/truth"))
    finally:
        await engine.dispose()
    return counts, problems


async def run(args: argparse.Namespace) -> dict[str, Any]:
    count = args.deleted_characters
    deleted = [] if count is None else ["--deleted-characters", str(count)]
    sim, sim_url = start_sim(args, *deleted)
    try:
        with tempfile.TemporaryDirectory(prefix="kr_bench_embedded_", dir=args.keep) as tmp:
            db_url = f"sqlite:///{Path(tmp) / 'killreport.db'}"
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("ESI_", "DATABASE_", "RABBITMQ_", "WORKER_"))}
            env.update(DATABASE_URL=db_url, RABBITMQ_URL=NO_BROKER, ESI_BASE_URL=sim_url,
                       ESI_CONTACT="bench@killreport.invalid", ESI_MAX_INFLIGHT=str(args.max_inflight),
                       LOG_LEVEL="WARNING",
                       # The simulator has no daily downtime: a run spanning 11:00 UTC must not pause.
                       ESI_DAILY_DOWNTIME="false", METRICS_PORT="0", KILLMAIL_FEED="false")
            if args.concurrency is not None:  # else the product's default (Settings.job_concurrency)
                env["WORKER_CONCURRENCY"] = str(args.concurrency)
            cmd = _command(args)
            wall, cpu_s, peak_rss, _ = await asyncio.to_thread(_run_and_sample, args, cmd, env, tmp)
            sim_times = psutil.Process(sim.pid).cpu_times()
            stats = await sim_get(sim_url, "/_sim/stats")
            counts, problems = await _stored(db_url, sim_url)
            db_mb = sum(p.stat().st_size for p in Path(tmp).glob("killreport.db*")) / 2**20
    finally:
        sim.terminate()
        sim.wait(30)
    by_status = requests_by_status(stats)
    requests = sum(by_status.values())
    entities = sum(counts.values())
    return {
        "command": " ".join(["DATABASE_URL=sqlite:///<tmp>/killreport.db", f"RABBITMQ_URL={NO_BROKER}",
                             "killreport", "sync-all", "--wait"]),
        "setup": vars(args),
        "wall_s": round(wall, 1),
        "requests": requests,
        "requests_by_status": by_status,
        "requests_per_s": round(requests / wall, 1),
        **inflight_bound(args, requests, wall),
        "entities": entities,
        "entities_by_kind": counts,
        "cpu_s": round(cpu_s, 1),
        "cpu_ms_per_entity": round(1000 * cpu_s / max(entities, 1), 3),
        "cpu_ms_per_request": round(1000 * cpu_s / max(requests, 1), 3),
        "busy_share": round(cpu_s / wall, 3),  # of one core: the process is one event loop
        # The simulator shares the two cores: what it took bounds what the process could have.
        "simulator_cpu_s": round(sim_times.user + sim_times.system, 1),
        "peak_rss_mb": round(peak_rss / 2**20, 1),
        "database_mb": round(db_mb, 1),
        "served_420": stats["limit_violations"]["420"],
        "served_429": stats["limit_violations"]["429"],
        "limit_violations": stats["limit_violations"]["total"],
        "cache_violations": stats["cache_violations"]["total"],
        "sim_max_in_flight": stats.get("max_in_flight"),
        **inflight_profile(stats, args.max_inflight),
        "equal_to_truth": not problems,
        "first_differences": problems[:10],
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alliances", type=int, default=3550)
    # The simulator draws latency + uniform(0, jitter): 50-70 ms (mean 60) by default, the setting
    # of docs/performance.md's rows unless they say otherwise; `--latency-ms 30 --jitter-ms 40` is
    # 50 +- 20 ms read literally.
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--jitter-ms", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=None,
                        help="WORKER_CONCURRENCY (default: unset, so 1.5 x ESI_MAX_INFLIGHT jobs at a time)")
    parser.add_argument("--max-inflight", type=int, default=32, help="ESI_MAX_INFLIGHT")
    parser.add_argument("--deleted-characters", type=int, default=None,
                        help="deleted characters in the universe (each a 404, an error against "
                             "ESI's limit; default: the simulator's, 150 per 3,550 alliances)")
    parser.add_argument("--profile", help="write cProfile stats of the sync-all process here")
    parser.add_argument("--py-spy", help="record py-spy samples (raw stacks) of the process here")
    parser.add_argument("--py-spy-gil", action="store_true", help="only samples holding the GIL")
    parser.add_argument("--keep", help="make the temporary folder under this one (default: the system's)")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
