"""End-to-end benchmark: simulator + N worker processes + `sync-all --wait`, on private DB and vhost.

Run: .venv/bin/python bench/sync_all.py [--alliances 3550] [--workers 2] [--latency-ms 50]
     [--jitter-ms 20] [--concurrency 16] [--max-inflight 32] [--metrics | --metrics-worker I]
     [--pg-stats]
Prints one JSON object: wall time, requests by status, requests/s, entities/s, the bound
ESI_MAX_INFLIGHT / mean latency and the achieved fraction of it, 420s, peak RSS and CPU per process,
and CPU milliseconds per request of the workers and of this run's PostgreSQL backends (`postgres`
counts every database on the server, other users' too).
--metrics: each worker serves METRICS_PORT (its own free port) and is scraped every second;
--metrics-worker I: only worker I does. Each worker has its own ESI_CONTACT, so the simulator's
per-User-Agent counts give each worker's requests (`per_worker`).
--pg-stats: transactions and per-table scans and row counts of the run's database, at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
import uuid
from typing import Any

import asyncpg
import psutil

from common import (
    KR,
    inflight_bound,
    inflight_profile,
    requests_by_status,
    service_cpu_s,
    setup,
    sim_get,
    start_sim,
    teardown,
)


class Sampler(threading.Thread):
    """Samples peak RSS and CPU time of named processes every 0.2 s, and the CPU time of the
    PostgreSQL backends serving `database` (others' databases on a shared server do not count)."""

    def __init__(self, database: str) -> None:
        super().__init__(daemon=True)
        self.procs: dict[str, psutil.Process] = {}
        self.peak: dict[str, int] = {}
        self.cpu: dict[str, float] = {}
        self.stop = threading.Event()
        self.database = database
        self.backends: dict[int, psutil.Process] = {}
        self.backend_cpu: dict[int, float] = {}

    def watch(self, name: str, pid: int) -> None:
        self.procs[name] = psutil.Process(pid)

    def run(self) -> None:
        rounds = 0
        while not self.stop.wait(0.2):
            if rounds % 5 == 0:
                self._find_backends()
            rounds += 1
            self._sample_backends()
            for name, proc in list(self.procs.items()):
                try:
                    self.peak[name] = max(self.peak.get(name, 0), proc.memory_info().rss)
                    times = proc.cpu_times()
                    self.cpu[name] = times.user + times.system
                except psutil.NoSuchProcess:
                    continue

    def _find_backends(self) -> None:
        # A backend's title is "postgres: CLUSTER: USER DATABASE HOST(PORT) STATE".
        for proc in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or ())
            if proc.pid not in self.backends and f" {self.database} " in title:
                self.backends[proc.pid] = proc

    def _sample_backends(self) -> None:
        for pid, proc in list(self.backends.items()):
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            self.backend_cpu[pid] = times.user + times.system

    def postgres_db_cpu(self) -> float:
        """CPU seconds used by the backends of the database (a backend's last 0.2 s may be missed)."""
        return sum(self.backend_cpu.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Scraper(threading.Thread):
    """Scrapes every worker's /metrics once a second, as a busy Prometheus would."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(daemon=True)
        self.ports, self.scrapes, self.stop = ports, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            for port in self.ports:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                        r.read()
                    self.scrapes += 1
                except OSError:
                    continue


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"kr_bench_{uuid.uuid4().hex[:8]}"
    pg_url, amqp_url = await setup(name)
    sim, sim_url = start_sim(args)
    env = {**os.environ, "DATABASE_URL": pg_url, "RABBITMQ_URL": amqp_url, "ESI_BASE_URL": sim_url,
           "ESI_CONTACT": "bench@killreport.invalid", "ESI_MAX_INFLIGHT": str(args.max_inflight),
           "WORKER_CONCURRENCY": str(args.concurrency), "LOG_LEVEL": "WARNING"}
    sampler = Sampler(name)
    workers: list[subprocess.Popen[bytes]] = []
    # Which workers serve metrics: all with --metrics, one with --metrics-worker I (1-based).
    serving = [args.metrics or args.metrics_worker == i + 1 for i in range(args.workers)]
    ports = [free_port() if on else 0 for on in serving]
    scraper = Scraper([p for p in ports if p])
    try:
        subprocess.run([*KR, "migrate"], env=env, check=True, capture_output=True)
        sampler.watch("sim", sim.pid)
        for i in range(args.workers):
            port = str(ports[i])  # "0" when off: never an inherited METRICS_PORT
            # Each worker names itself in its User-Agent, so the simulator counts its requests.
            w = subprocess.Popen([*KR, "worker", "all"], env={**env, "METRICS_PORT": port,
                                                               "ESI_CONTACT": _contact(i + 1)})
            workers.append(w)
            sampler.watch(f"worker{i + 1}", w.pid)
        sampler.start()
        scraper.start()
        await asyncio.sleep(2)
        started = time.monotonic()
        services_before = service_cpu_s()
        psutil.cpu_percent()
        done = subprocess.run([*KR, "sync-all", "--wait"], env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        machine_cpu = psutil.cpu_percent()
        services = {k: round(v - services_before[k], 1) for k, v in service_cpu_s().items()}
        if done.returncode != 0:
            raise SystemExit(f"sync-all failed: {done.stderr[-2000:]}")
        stats = await sim_get(sim_url, "/_sim/stats")
        truth = await sim_get(sim_url, "/_sim/truth")
        db_stats = await database_stats(pg_url) if args.pg_stats else None
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(60)
        sampler.stop.set()
        scraper.stop.set()
        sim.terminate()
        sim.wait(30)
        await teardown(name)
    by_status = requests_by_status(stats)
    requests = sum(by_status.values())
    entities = len(truth["alliances"]) + len(truth["corporations"]) + len(truth["characters"])
    return {
        "setup": vars(args),
        "wall_s": round(wall, 1),
        "requests": requests,
        "requests_by_status": by_status,
        "requests_per_s": round(requests / wall, 1),
        "entities": entities,
        "entities_per_s": round(entities / wall, 1),
        **inflight_bound(args, requests, wall),
        "served_420": stats["limit_violations"]["420"],
        "served_429": stats["limit_violations"]["429"],
        "cache_violations": stats["cache_violations"]["total"],
        "sim_max_in_flight": stats["max_in_flight"],
        **inflight_profile(stats, args.max_inflight),
        "peak_rss_mb": {k: round(v / 2**20, 1) for k, v in sampler.peak.items()},
        "cpu_s": {**{k: round(v, 1) for k, v in sampler.cpu.items()}, **services,
                  "postgres_this_db": round(sampler.postgres_db_cpu(), 1)},
        # The measure that survives a shared machine: CPU per request of this run's own processes.
        "cpu_ms_per_request": {
            "workers": round(1000 * sum(v for k, v in sampler.cpu.items() if k.startswith("worker"))
                             / requests, 3),
            "postgres_this_db": round(1000 * sampler.postgres_db_cpu() / requests, 3)},
        "per_worker": _per_worker(args, sampler.cpu, stats["user_agents"], serving),
        "machine_cpu_percent": machine_cpu,
        "metrics_scrapes": scraper.scrapes,
        "database_stats": db_stats,
    }


def _contact(worker: int) -> str:
    return f"bench-worker{worker}@killreport.invalid"


def _per_worker(args: argparse.Namespace, cpu: dict[str, float], agents: dict[str, int],
                serving: list[bool]) -> list[dict[str, Any]]:
    """Each worker's requests (by its User-Agent), CPU seconds and CPU per request, and metrics on/off."""
    out = []
    for i in range(args.workers):
        requests = sum(n for agent, n in agents.items() if _contact(i + 1) in agent)
        cpu_s = cpu.get(f"worker{i + 1}", 0.0)
        out.append({"worker": i + 1, "metrics": serving[i], "requests": requests, "cpu_s": round(cpu_s, 2),
                    "cpu_ms_per_request": round(1000 * cpu_s / max(requests, 1), 3)})
    return out


async def database_stats(pg_url: str) -> dict[str, Any]:
    """Transactions and, per table, scans and rows touched in the run's database (profiling aid)."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        xacts = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
        tables = await conn.fetch(
            "SELECT relname, seq_scan, seq_tup_read, idx_scan, n_tup_ins, n_tup_upd, n_tup_hot_upd,"
            " n_tup_del FROM pg_stat_user_tables ORDER BY relname")
    finally:
        await conn.close()
    return {"transactions": xacts, "tables": {r["relname"]: dict(r) for r in tables}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alliances", type=int, default=3550)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--jitter-ms", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-inflight", type=int, default=32)
    parser.add_argument("--metrics", action="store_true", help="serve and scrape each worker's metrics")
    parser.add_argument("--metrics-worker", type=int, default=0,
                        help="serve and scrape only this worker's metrics (1-based): an A/B within one run")
    parser.add_argument("--pg-stats", action="store_true",
                        help="report transactions and per-table scans of the run's database")
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
