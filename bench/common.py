"""What the benchmarks share: a private database and vhost, the simulator as a process, its control API."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

import aiohttp
import asyncpg
import psutil

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/postgres")
AMQP = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
KR = [sys.executable, "-m", "killreport"]


async def setup(name: str) -> tuple[str, str]:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                   check=True)
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, AMQP.rstrip("/") + "/" + name


async def teardown(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False)


def service_cpu_s() -> dict[str, float]:
    """CPU seconds used so far by PostgreSQL and RabbitMQ (all their processes)."""
    out = {"postgres": 0.0, "rabbitmq": 0.0}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name = proc.info["name"] or ""
        key = "postgres" if name.startswith("postgres") else "rabbitmq" if "beam" in name else None
        if key and proc.info["cpu_times"]:
            out[key] += proc.info["cpu_times"].user + proc.info["cpu_times"].system
    return out


def start_sim(args: argparse.Namespace, *extra: str) -> tuple[subprocess.Popen[str], str]:
    # No daily downtime: a run that crosses 11:00 UTC would measure the downtime, not the client.
    cmd = [*KR, "sim", "--port", "0", "--alliances", str(args.alliances), "--latency-ms",
           str(args.latency_ms), "--jitter-ms", str(args.jitter_ms), "--daily-downtime-s", "0", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = next((w for w in line.split() if w.startswith("http://")), None)
    if url is None:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line!r}")
    return proc, url.rstrip("/")


async def sim_get(url: str, path: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(url + path) as r:
        return await r.json()


async def sim_post(url: str, path: str) -> Any:
    async with aiohttp.ClientSession() as s, s.post(url + path) as r:
        r.raise_for_status()
        return await r.json()


def requests_by_status(stats: dict[str, Any]) -> dict[str, int]:
    """The simulator's answers by status, over every route (from /_sim/stats)."""
    by_status: dict[str, int] = {}
    for route in stats["by_route"].values():
        for code, count in route.items():
            by_status[code] = by_status.get(code, 0) + count
    return by_status


def inflight_bound(args: argparse.Namespace, requests: int, wall_s: float) -> dict[str, float | None]:
    """The fastest any client could go with ESI_MAX_INFLIGHT requests always in flight, and the share
    of it reached. The simulator waits latency + uniform(0, jitter) before each answer."""
    mean_latency_s = (args.latency_ms + args.jitter_ms / 2) / 1000
    bound = args.max_inflight / mean_latency_s if mean_latency_s else None
    return {"mean_latency_ms": round(1000 * mean_latency_s, 1),
            "bound_requests_per_s": round(bound, 1) if bound else None,
            "fraction_of_bound": round(requests / wall_s / bound, 3) if bound else None}


def inflight_profile(stats: dict[str, Any], max_inflight: int) -> dict[str, Any]:
    """How full the client kept its in-flight cap, as the simulator saw it, and the errors each of
    ESI's error-limit windows counted: where a run lost time to the error limit."""
    seconds = {int(n): s for n, s in stats.get("in_flight_seconds", {}).items()}
    total = sum(seconds.values())
    return {
        "in_flight_mean": round(sum(n * s for n, s in seconds.items()) / total, 1) if total else None,
        "seconds_under_half_cap": round(sum(s for n, s in seconds.items() if n < max_inflight / 2), 1),
        "errors_by_window": stats.get("errors_by_window", {}).get("127.0.0.1"),
    }
