"""Metrics on versus off on the full-sync benchmark (bench/sync_all.py), and what the runs can tell.

Run: .venv/bin/python bench/metrics_overhead.py [--design within|pairs] [--runs 8] [--alliances 600]
     [sync_all.py options]

Two designs (goal: requests/s with metrics at most 3 % below without):
- within (default): each run has two workers, one serving /metrics (scraped every second), one
  not, both taking jobs from the same queues at the same time; the worker serving metrics
  alternates between runs. Each worker's requests come from the simulator's per-User-Agent counts.
  A slower worker takes fewer jobs, so `requests on / requests off` is the throughput cost of the
  metrics, measured under the very same load, disk and network as its control.
- pairs: runs with every worker serving metrics against runs with none, in alternating order.
  Why `within` is the default: on this 2-core machine the same run varies by up to 17 % in
  requests/s and 15 % in workers' CPU per request (docs/performance.md), so between-run pairs need
  dozens of runs to see 3 %; two workers in one run see the same noise.
Prints one JSON object: every run, the per-run ratios, their mean and a 95 % interval (Student's t),
and whether the interval clears the goal.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

GOAL: float = 0.97  # requests/s on / off: at most 3 % lower
# Student's t, two-sided 95 %, by degrees of freedom (runs - 1).
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23,
        11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 19: 2.09, 24: 2.06, 29: 2.05}


def _t95(df: int) -> float:
    return _T95.get(df) or _T95[max(k for k in _T95 if k <= df)]


def _sync_all(extra: list[str]) -> dict[str, Any]:
    script = Path(__file__).with_name("sync_all.py")
    done = subprocess.run([sys.executable, str(script), *extra], capture_output=True, text=True, check=True)
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _within(extra: list[str], run: int) -> tuple[dict[str, Any], float, float]:
    """One run, metrics on worker 1 or 2: (summary, requests on/off, CPU per request on/off)."""
    out = _sync_all([*extra, "--workers", "2", "--metrics-worker", str(1 + run % 2)])
    on = next(w for w in out["per_worker"] if w["metrics"])
    off = next(w for w in out["per_worker"] if not w["metrics"])
    summary = {"wall_s": out["wall_s"], "requests_per_s": out["requests_per_s"],
               "served_420": out["served_420"], "metrics_scrapes": out["metrics_scrapes"],
               "on": on, "off": off}
    return summary, on["requests"] / off["requests"], on["cpu_ms_per_request"] / off["cpu_ms_per_request"]


def _pair(extra: list[str], run: int) -> tuple[dict[str, Any], float, float]:
    """Two runs, all workers with metrics and none, in alternating order."""
    got: dict[bool, dict[str, Any]] = {}
    for metrics in ((True, False) if run % 2 else (False, True)):
        got[metrics] = _sync_all([*extra, *(["--metrics"] if metrics else [])])
    summary = {str(m): {"wall_s": o["wall_s"], "requests_per_s": o["requests_per_s"],
                        "served_420": o["served_420"],
                        "worker_cpu_ms_per_request": o["cpu_ms_per_request"]["workers"]}
               for m, o in got.items()}
    rate = got[True]["requests_per_s"] / got[False]["requests_per_s"]
    cpu = got[True]["cpu_ms_per_request"]["workers"] / got[False]["cpu_ms_per_request"]["workers"]
    return summary, rate, cpu


def _interval(ratios: list[float]) -> dict[str, float]:
    mean = statistics.mean(ratios)
    half = _t95(len(ratios) - 1) * statistics.stdev(ratios) / len(ratios) ** 0.5 if len(ratios) > 1 else 0.0
    return {"mean": round(mean, 4), "low95": round(mean - half, 4), "high95": round(mean + half, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--design", choices=["within", "pairs"], default="within")
    parser.add_argument("--runs", type=int, default=8, help="runs (within) or pairs of runs (pairs)")
    parser.add_argument("--alliances", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=32)
    args, rest = parser.parse_known_args()
    extra = ["--alliances", str(args.alliances), "--concurrency", str(args.concurrency), *rest]
    one = _within if args.design == "within" else _pair
    runs, rate, cpu = [], [], []
    for i in range(args.runs):
        summary, r, c = one(extra, i)
        runs.append(summary)
        rate.append(r)
        cpu.append(c)
        print(f"run {i + 1}: requests on/off {r:.3f}, CPU per request on/off {c:.3f}", file=sys.stderr)
    requests_ratio = _interval(rate)
    print(json.dumps({
        "setup": {**vars(args), "sync_all": extra},
        "runs": runs,
        "requests_on_over_off": requests_ratio,
        "cpu_per_request_on_over_off": _interval(cpu),
        "goal": f"requests on/off >= {GOAL}",
        "goal_met_at_95": requests_ratio["low95"] >= GOAL,
    }, indent=2))


if __name__ == "__main__":
    main()
