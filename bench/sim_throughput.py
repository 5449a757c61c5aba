"""Throughput of `killreport sim` on one core, measured by a load generator in another process.

Run: .venv/bin/python bench/sim_throughput.py [--seconds 10] [--concurrency 64] [--alliances 3550]
Prints one JSON object: requests, seconds, requests_per_s, by_status, by_route, and the setup.
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

HEADERS = {"X-Compatibility-Date": "2026-08-18", "User-Agent": "killreport-bench/0.1 (bench@example.com)"}


def start_sim(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    """Start the simulator pinned to one core; return the process and its base URL."""
    code = "import sys; from killreport.cli.main import main; main(sys.argv[1:])"
    cmd = [sys.executable, "-c", code, "sim", "--port", "0", "--alliances", str(args.alliances),
           "--error-budget", "1000000", "--daily-downtime-s", "0"]  # 11:00 UTC must not count
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {args.sim_cpu}))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = next((w for w in line.split() if w.startswith("http://")), None)
    if url is None:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, url


def plan(truth: dict[str, Any], rng: random.Random) -> list[tuple[str, str, Any]]:
    """A realistic mix of requests: mostly corporations and characters, some alliances and batches."""
    alliances = list(truth["alliances"])
    corps = list(truth["corporations"])
    chars = list(truth["characters"])
    out: list[tuple[str, str, Any]] = []
    for _ in range(20_000):
        roll = rng.random()
        if roll < 0.02:
            out.append(("GET", "/alliances", None))
        elif roll < 0.12:
            out.append(("GET", f"/alliances/{rng.choice(alliances)}", None))
        elif roll < 0.22:
            out.append(("GET", f"/alliances/{rng.choice(alliances)}/corporations", None))
        elif roll < 0.60:
            out.append(("GET", f"/corporations/{rng.choice(corps)}", None))
        elif roll < 0.97:
            out.append(("GET", f"/characters/{rng.choice(chars)}", None))
        else:
            out.append(("POST", "/characters/affiliation", [int(c) for c in rng.sample(chars, 50)]))
    return out


async def load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Send the mix with `concurrency` workers over keep-alive connections for `seconds`."""
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:
        async with session.get(f"{url}/_sim/truth") as resp:
            truth = await resp.json()
        requests = plan(truth, random.Random(1))
        statuses: Counter[int] = Counter()
        routes: Counter[str] = Counter()
        deadline = time.perf_counter() + args.seconds

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline:
                method, path, body = requests[i % len(requests)]
                i += args.concurrency
                async with session.request(method, url + path, json=body) as resp:
                    await resp.read()
                    statuses[resp.status] += 1
                    routes[method + " " + path.split("/")[1]] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        async with session.get(f"{url}/_sim/stats") as resp:
            stats = await resp.json()
    total = sum(statuses.values())
    return {"requests": total, "seconds": round(elapsed, 2), "requests_per_s": round(total / elapsed),
            "by_status": {str(k): v for k, v in sorted(statuses.items())}, "by_route": dict(routes),
            "concurrency": args.concurrency, "alliances": args.alliances, "sim_cpu": args.sim_cpu,
            "load_cpu": args.load_cpu, "sim_max_in_flight": stats["max_in_flight"]}


def main() -> None:
    """Parse options, start the simulator, run the load, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--alliances", type=int, default=3550)
    parser.add_argument("--sim-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.load_cpu})
    proc, url = start_sim(args)
    try:
        result = asyncio.run(load(url, args))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
