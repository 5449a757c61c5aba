"""RequestTally shows what prometheus_client's Counter and Histogram show for the same requests."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from killreport.metrics.names import _LATENCY_BUCKETS, RequestTally

routes = st.sampled_from(["/alliances/{alliance_id}/", "/characters/{character_id}/", "/status/"])
statuses = st.sampled_from(["200", "304", "404", "420", "none"])
# Bucket bounds themselves included: a request of exactly 0.05 s belongs to le="0.05".
durations = st.sampled_from(_LATENCY_BUCKETS) | st.floats(0, 60, allow_nan=False)


def _library(requests: list[tuple[str, str, float]]) -> str:
    registry = CollectorRegistry()
    counter = Counter("killreport_esi_requests", "ESI requests by route template and status",
                      ["route", "status"], registry=registry)
    histogram = Histogram("killreport_esi_request_duration_seconds", "ESI request duration by route",
                          ["route"], buckets=_LATENCY_BUCKETS, registry=registry)
    for route, status, seconds in requests:
        counter.labels(route, status).inc()
        histogram.labels(route).observe(seconds)
    return generate_latest(registry).decode()


def _tally(requests: list[tuple[str, str, float]]) -> str:
    registry = CollectorRegistry()
    tally = RequestTally()
    registry.register(tally)
    for route, status, seconds in requests:
        tally(route, status, seconds)
    return generate_latest(registry).decode()


def _samples(text: str) -> dict[str, float]:
    """Every sample line (the library's `_created` timestamps aside), by name and labels."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "_created" not in line:
            key, _, value = line.rpartition(" ")
            found[key] = float(value)
    return found


@given(st.lists(st.tuples(routes, statuses, durations), max_size=40))
def test_the_tally_exports_what_the_library_would(requests: list[tuple[str, str, float]]) -> None:
    ours, theirs = _samples(_tally(requests)), _samples(_library(requests))
    assert ours.keys() == theirs.keys()
    for key, value in theirs.items():
        assert abs(ours[key] - value) <= 1e-9 * max(1.0, abs(value)), key


def test_names_and_types_are_the_library_s() -> None:
    text = _tally([("/status/", "200", 0.02)])
    assert "# TYPE killreport_esi_requests_total counter" in text
    assert "# TYPE killreport_esi_request_duration_seconds histogram" in text
    assert 'killreport_esi_request_duration_seconds_bucket{le="0.025",route="/status/"} 1.0' in text
