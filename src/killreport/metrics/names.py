"""Every metric a process exports, created on a registry the composition root owns (no globals)."""

from __future__ import annotations

import bisect
import math
from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from killreport.domain.routes import NO_ANSWER_STATUS

# ESI answers within milliseconds (cache hits) to the request timeout (10 s by default).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class JobTally(Collector):
    """Jobs by (kind, outcome) as a plain dict, turned into counters only when scraped.

    JobProcessor's hot path then pays one dict increment per job, no lock, no label lookup.
    """

    def __init__(self) -> None:
        self.counts: Tally[tuple[str, str]] = Tally()

    def __call__(self, kind: str, outcome: str) -> None:
        """Count one job of `kind` that ended with `outcome`."""
        self.counts[kind, outcome] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        """The counters as of now."""
        jobs = CounterMetricFamily("killreport_jobs", "jobs handled, by kind and outcome",
                                   labels=["kind", "outcome"])
        retries = CounterMetricFamily("killreport_job_retries", "jobs sent to a retry tier", labels=["kind"])
        dead = CounterMetricFamily("killreport_dead_letters", "jobs dead-lettered", labels=["kind"])
        for (kind, outcome), count in list(self.counts.items()):
            jobs.add_metric([kind, outcome], count)
            if outcome == "retried":
                retries.add_metric([kind], count)
            elif outcome == "dead_lettered":
                dead.add_metric([kind], count)
        yield from (jobs, retries, dead)


class RequestTally(Collector):
    """ESI requests by (route, status) and their latency by route, as plain dicts, turned into a
    counter and a histogram only when scraped (what prometheus_client's Counter and Histogram would
    show for the same observations: tests/unit/test_metrics_tally.py holds them to it).

    Why: labels() and the metric's lock on every request were 0.8 % of a worker's CPU (py-spy on
    a worker serving metrics during bench/sync_all.py); a request now costs a few dict operations.
    """

    def __init__(self, buckets: tuple[float, ...] = _LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts: Tally[tuple[str, str]] = Tally()
        self.latency: dict[str, list[float]] = {}  # route -> a count per bucket (+Inf last), then the sum

    def __call__(self, route: str, status: str, seconds: float) -> None:
        """Count one request of `route` that ended with `status` and took `seconds`."""
        self.counts[route, status] += 1
        row = self.latency.get(route)
        if row is None:
            row = self.latency[route] = [0.0] * (len(self.buckets) + 2)
        row[bisect.bisect_left(self.buckets, seconds)] += 1
        row[-1] += seconds

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        """The counter and the histogram as of now."""
        requests = CounterMetricFamily("killreport_esi_requests", "ESI requests by route template and status",
                                       labels=["route", "status"])
        for (route, status), count in list(self.counts.items()):
            requests.add_metric([route, status], count)
        latency = HistogramMetricFamily("killreport_esi_request_duration_seconds",
                                        "ESI request duration by route", labels=["route"])
        for route, row in list(self.latency.items()):
            cumulative, total = [], 0.0
            for bound, in_bucket in zip([*self.buckets, math.inf], row[:-1], strict=True):
                total += in_bucket
                cumulative.append((_bound(bound), total))
            latency.add_metric([route], cumulative, row[-1])
        yield from (requests, latency)


def _bound(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))


@dataclass
class Metrics:
    """The metric set of one process."""

    registry: CollectorRegistry
    requests: RequestTally
    error_limited: Counter
    rate_limited: Counter
    jobs: JobTally
    gauges: dict[str, Gauge] = field(default_factory=dict)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one ESI request of `route` (a template) that ended with `status`, and its duration."""
        self.requests(route, "none" if status == NO_ANSWER_STATUS else str(status), seconds)
        if status == 420:
            self.error_limited.inc()
        elif status == 429:
            self.rate_limited.inc()


# The kill feed's gauges (-1: not known yet), keyed by what metrics/gauges.py's show_killmails sets.
_KILLMAIL_GAUGES: Final = {
    "killmail_cursor": ("killreport_killmail_cursor", "the next R2Z2 sequence number to store", ()),
    "killmail_head": ("killreport_killmail_head", "R2Z2's head pointer as last read", ()),
    "killmail_lag_kills": ("killreport_killmail_lag_kills", "head pointer minus cursor", ()),
    "killmail_lag_seconds": ("killreport_killmail_lag_seconds",
                             "seconds since the newest stored feed kill was uploaded", ()),
    "killmail_stored": ("killreport_killmail_stored", "killmails stored", ()),
    "killmail_holes": ("killreport_killmail_holes", "feed numbers that never came, not filled yet", ()),
    "killmail_rejected": ("killreport_killmail_rejected", "packages kept aside (failed the schema)", ()),
    "killmail_feed_error": ("killreport_killmail_feed_error", "1 while the feed's last request failed", ()),
    "killmail_following": ("killreport_killmail_following", "1 while a follower's heartbeat is fresh", ()),
    "killmail_backfill_days": ("killreport_killmail_backfill_days", "back-filled days, all and complete",
                               ("state",)),
}


def _gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    """The gauges refreshed from the budget and the store (metrics/gauges.py)."""
    specs = {
        "error_limit": ("killreport_esi_error_limit_remaining", "ESI error limit remaining", ()),
        "in_flight": ("killreport_esi_in_flight", "requests in flight across the cluster", ()),
        "paused_until": ("killreport_esi_paused_until_timestamp_seconds",
                         "the budget is paused until this Unix time (0: not paused)", ()),
        "downtime": ("killreport_esi_downtime", "1 while ESI is down", ()),
        "bucket": ("killreport_esi_bucket_remaining", "token bucket remaining by group", ("group",)),
        "stored": ("killreport_entities_stored", "tracked entities by kind", ("kind",)),
        "overdue": ("killreport_entities_overdue", "tracked entities past their Expires", ("kind",)),
        "oldest": ("killreport_entities_oldest_overdue_seconds",
                   "how long the oldest overdue entity is past its Expires", ("kind",)),
        **_KILLMAIL_GAUGES,
    }
    return {key: Gauge(name, doc, labels, registry=registry) for key, (name, doc, labels) in specs.items()}


def make_metrics(registry: CollectorRegistry) -> Metrics:
    """Every metric of a process, registered on `registry`."""
    jobs, requests = JobTally(), RequestTally()
    registry.register(jobs)
    registry.register(requests)
    return Metrics(
        registry=registry,
        requests=requests,
        error_limited=Counter("killreport_esi_error_limited", "420 answers seen", registry=registry),
        rate_limited=Counter("killreport_esi_rate_limited", "429 answers seen", registry=registry),
        jobs=jobs,
        gauges=_gauges(registry),
    )
