"""The rates `status --watch` shows are differences over time of the status counters."""

from __future__ import annotations

from killreport.cli.watch import Sample, rates, sample


def test_rates_are_per_second_differences() -> None:
    first = Sample(at=10.0, requests=100, entities=50)
    later = Sample(at=12.0, requests=160, entities=80)
    assert rates(None, first) == (0.0, 0.0)
    assert rates(first, later) == (30.0, 15.0)
    assert rates(later, later) == (0.0, 0.0)


def test_a_sample_counts_requests_of_every_status_and_only_entities() -> None:
    data = {"requests": {200: 5, 304: 2, 0: 1},
            "stored": {"alliances": 1, "corporations": 2, "characters": 3, "failures": 9}}
    assert sample(data, 1.0) == Sample(1.0, 8, 6)
