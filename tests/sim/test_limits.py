"""The pure error-limit, token-bucket and rate accounting, driven by a fake clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from killreport.sim.limits import ErrorLimiter, RateCounter, TokenBuckets, token_cost


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_error_window_starts_at_first_request_and_blocks_when_spent() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(60, 3, clock)
    assert limiter.admit("a").remain == 3 and limiter.admit("a").reset_s == 60
    clock.now += 10
    for expected in (2, 1, 0):
        assert limiter.record("a", 404).remain == expected
    state = limiter.admit("a")
    assert state.blocked and state.reset_s == 50
    assert not limiter.admit("b").blocked  # per IP
    clock.now += 50
    assert limiter.admit("a") == limiter.admit("a")
    assert not limiter.admit("a").blocked and limiter.admit("a").reset_s == 60


def test_successes_304_and_420_do_not_count() -> None:
    limiter = ErrorLimiter(60, 2, FakeClock())
    for status in (200, 304, 420, 204):
        assert limiter.record("a", status).remain == 2
    assert limiter.record("a", 503).remain == 1


def test_spend_blocks_until_window_end() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(5, 100, clock)
    assert limiter.spend("a").remain == 0
    assert limiter.admit("a").blocked
    clock.now += 5
    assert not limiter.admit("a").blocked


@given(
    st.lists(st.tuples(st.floats(0, 30), st.sampled_from([200, 304, 400, 404, 420, 500, 503])), max_size=200)
)
def test_errors_never_exceed_budget_within_a_window(events: list[tuple[float, int]]) -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(60, 10, clock)
    for step, status in events:
        clock.now += step
        admitted = limiter.admit("ip")
        if admitted.blocked:
            assert admitted.remain == 0
            continue
        state = limiter.record("ip", status)
        assert 0 <= state.remain <= 10
        assert 0 <= state.reset_s <= 60


def test_token_costs() -> None:
    assert [token_cost(s) for s in (200, 201, 304, 400, 404, 429, 500, 503)] == [2, 2, 1, 5, 5, 5, 0, 0]


def test_bucket_refuses_when_empty_and_floats() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(clock)
    for _ in range(5):
        assert buckets.admit("g", "a", 10, 900).retry_after_s is None
        buckets.record("g", "a", 10, 900, 200)
        clock.now += 100
    refused = buckets.admit("g", "a", 10, 900)
    assert refused.remaining == 0 and refused.retry_after_s == 900 - 500
    assert buckets.admit("g", "b", 10, 900).retry_after_s is None
    clock.now += refused.retry_after_s
    assert buckets.admit("g", "a", 10, 900).retry_after_s is None


@given(st.lists(st.tuples(st.floats(0, 120), st.sampled_from([200, 304, 404, 500])), max_size=300))
def test_bucket_used_is_the_sum_of_costs_in_the_window(events: list[tuple[float, int]]) -> None:
    clock = FakeClock()
    buckets = TokenBuckets(clock)
    log: list[tuple[float, int]] = []
    for step, status in events:
        clock.now += step
        if buckets.admit("g", "ip", 50, 900).retry_after_s is not None:
            assert sum(c for t, c in log if t > clock.now - 900) >= 50
            continue
        state = buckets.record("g", "ip", 50, 900, status)
        log.append((clock.now, token_cost(status)))
        assert state.used == sum(c for t, c in log if t > clock.now - 900)
        assert state.used < 50 + 5


def test_rate_counter() -> None:
    clock = FakeClock()
    counter = RateCounter(60, 3, clock)
    assert [counter.allow("a") for _ in range(4)] == [True, True, True, False]
    clock.now += 60
    assert counter.allow("a")
    assert RateCounter(60, 0, clock).allow("a")


def test_errors_by_window_lists_each_window_oldest_first() -> None:
    clock = FakeClock()
    limiter = ErrorLimiter(60, 100, clock)
    for _ in range(3):
        limiter.record("a", 404)
    limiter.record("a", 200)
    clock.now += 61
    limiter.record("a", 503)
    limiter.record("b", 404)
    assert limiter.errors_by_window() == {"a": [3, 1], "b": [1]}
