"""The simulator with a lazy population as big as EVE: start time, memory, answers a second for random ids.

Run: .venv/bin/python bench/sim_population.py [--characters 20000000] [--corporations 1000000]
     [--alliances 3550] [--seconds 10] [--concurrency 32]
Prints one JSON object: startup_s (until the ready line) and rss_mb, without a population first, then with
it at start and after each load,
GET /characters/{id} answers a second (random population ids) and POST /characters/affiliation calls and
ids a second (1,000 random population ids a call). The simulator runs as its own process on one core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import psutil

from killreport.sim.population import CHARACTER_BASE

HEADERS = {"X-Compatibility-Date": "2026-08-18", "User-Agent": "killreport-bench/0.1 (bench@example.com)"}
CODE = "import sys; from killreport.cli.main import main; main(sys.argv[1:])"


def start(args: argparse.Namespace, characters: int,
          corporations: int) -> tuple[subprocess.Popen[str], str, float]:
    """Start the simulator on one core; its process, URL and seconds until it said it was ready."""
    cmd = [sys.executable, "-c", CODE, "sim", "--port", "0", "--alliances", str(args.alliances),
           "--population-characters", str(characters), "--population-corporations", str(corporations),
           # Deleted characters answer 404: the error limit must not turn the run into 420s.
           "--error-budget", "1000000000", "--daily-downtime-s", "0"]
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {args.sim_cpu}))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = next((w for w in line.split() if w.startswith("http://")), None)
    if url is None:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, url.rstrip("/"), time.perf_counter() - began


async def hammer(http: aiohttp.ClientSession, args: argparse.Namespace,
                 request: Any) -> tuple[int, Counter[int], float]:
    """Send `request(rng)` requests with `concurrency` workers for `seconds`; count and time them."""
    statuses: Counter[int] = Counter()
    deadline = time.perf_counter() + args.seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            method, url, body = request(rng)
            async with http.request(method, url, json=body) as resp:
                await resp.read()
                statuses[resp.status] += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    return sum(statuses.values()), statuses, time.perf_counter() - began


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start, then load GET /characters/{id} and affiliation with random population ids."""
    proc, _, startup = start(args, 0, 0)
    out: dict[str, Any] = {"without_population": {"startup_s": round(startup, 2), "rss_mb": rss_mb(proc.pid)}}
    proc.terminate()
    proc.wait(timeout=30)
    proc, url, startup = start(args, args.characters, args.corporations)
    out |= {"startup_s": round(startup, 2), "rss_mb_start": rss_mb(proc.pid)}
    n = args.characters
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as http:
            count, statuses, took = await hammer(http, args, lambda rng: (
                "GET", f"{url}/characters/{CHARACTER_BASE + rng.randrange(n)}", None))
            out["characters"] = {"answers": count, "answers_per_s": round(count / took, 1),
                                 "by_status": dict(statuses)}
            out["rss_mb_after_characters"] = rss_mb(proc.pid)
            count, statuses, took = await hammer(http, args, lambda rng: (
                "POST", f"{url}/characters/affiliation",
                [CHARACTER_BASE + k for k in rng.sample(range(n), 1000)]))
            out["affiliation"] = {"calls": count, "calls_per_s": round(count / took, 1),
                                  "ids_per_s": round(1000 * count / took), "by_status": dict(statuses)}
            out["rss_mb_after_affiliation"] = rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


def main() -> None:
    """Parse the options, measure, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--characters", type=int, default=20_000_000)
    parser.add_argument("--corporations", type=int, default=1_000_000)
    parser.add_argument("--alliances", type=int, default=3550)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sim-cpu", type=int, default=0, help="the core the simulator is pinned to")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    print(json.dumps({**result, "setup": vars(args)}))


if __name__ == "__main__":
    main()
