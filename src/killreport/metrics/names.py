"""Every metric a process exports, created on a registry the composition root owns (no globals)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from killreport.esi.classify import NO_ANSWER_STATUS

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


@dataclass
class Metrics:
    """The metric set of one process."""

    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    error_limited: Counter
    rate_limited: Counter
    jobs: JobTally
    gauges: dict[str, Gauge] = field(default_factory=dict)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one ESI request of `route` (a template) that ended with `status`, and its duration."""
        self.requests.labels(route, "none" if status == NO_ANSWER_STATUS else str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if status == 420:
            self.error_limited.inc()
        elif status == 429:
            self.rate_limited.inc()


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
    }
    return {key: Gauge(name, doc, labels, registry=registry) for key, (name, doc, labels) in specs.items()}


def make_metrics(registry: CollectorRegistry) -> Metrics:
    """Every metric of a process, registered on `registry`."""
    jobs = JobTally()
    registry.register(jobs)
    return Metrics(
        registry=registry,
        requests=Counter("killreport_esi_requests", "ESI requests by route template and status",
                         ["route", "status"], registry=registry),
        latency=Histogram("killreport_esi_request_duration_seconds", "ESI request duration by route",
                          ["route"], buckets=_LATENCY_BUCKETS, registry=registry),
        error_limited=Counter("killreport_esi_error_limited", "420 answers seen", registry=registry),
        rate_limited=Counter("killreport_esi_rate_limited", "429 answers seen", registry=registry),
        jobs=jobs,
        gauges=_gauges(registry),
    )
