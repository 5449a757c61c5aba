"""classify/observe are total over every status and any header value, and read ESI's reports right."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from killreport.esi.classify import (
    Outcome,
    classify,
    error_text,
    etag_of,
    observe,
    parse_http_date,
    parse_limit,
)
from killreport.esi.errors import Deleted, NotFound, PermanentError, ServerError, TransientError

HEADER_NAMES = st.sampled_from([
    "x-esi-error-limit-remain", "x-esi-error-limit-reset", "x-ratelimit-group", "x-ratelimit-limit",
    "x-ratelimit-remaining", "x-ratelimit-used", "retry-after", "expires", "last-modified", "etag"])
HEADERS = st.dictionaries(HEADER_NAMES, st.text(max_size=40) | st.from_regex(r"-?\d{1,25}", fullmatch=True))


@given(st.integers(100, 599), HEADERS, st.binary(max_size=200))
def test_observe_and_classify_are_total(status: int, headers: dict[str, str], body: bytes) -> None:
    obs = observe(status, headers)
    assert obs.is_error == (status >= 400)
    assert obs.error_remain is None or obs.error_remain >= 0
    assert obs.retry_after_s is None or 0 <= obs.retry_after_s <= 3600
    outcome = classify(status, headers, body)
    assert isinstance(outcome, Outcome)
    assert (outcome.error is not None) == (outcome.kind in ("transient", "permanent"))
    parse_http_date(headers.get("expires"))
    etag_of(headers)


@given(st.integers(100, 599))
def test_kinds_by_status(status: int) -> None:
    kind = classify(status, {}, b"").kind
    if 200 <= status < 300:
        assert kind == "ok"
    elif status == 304:
        assert kind == "not-modified"
    elif status in (420, 429):
        assert kind == "wait"
    elif 400 <= status < 500:
        assert kind == "permanent"
    else:
        assert kind == "transient"


def test_waits_report_how_long_and_for_whom_to_the_budget() -> None:
    limited = {"x-esi-error-limit-remain": "0", "x-esi-error-limit-reset": "17"}
    assert classify(420, limited, b"{}").kind == "wait"
    assert observe(420, limited).error_reset_s == 17
    grouped = observe(429, {"x-ratelimit-group": "status", "retry-after": "3"})
    assert grouped.retry_after_s == 3.0 and grouped.tokens is not None and grouped.tokens.group == "status"
    bare = observe(429, {})
    assert (bare.retry_after_s, bare.tokens) == (None, None)


def test_304_is_not_an_error_and_every_4xx_5xx_is() -> None:
    assert not observe(304, {}).is_error
    assert observe(404, {}).is_error and observe(503, {}).is_error and observe(420, {}).is_error


def test_deleted_character_is_told_apart_from_not_found() -> None:
    deleted = classify(404, {}, json.dumps({"error": "Character has been deleted!", "status": 404}).encode())
    assert isinstance(deleted.error, Deleted)
    missing = classify(404, {}, b'{"error": "Character not found"}')
    assert isinstance(missing.error, NotFound) and not isinstance(missing.error, Deleted)
    assert type(classify(400, {}, b"{}").error) is PermanentError


def test_5xx_and_odd_statuses_are_transient_with_a_short_reason() -> None:
    html = classify(502, {}, b"<html>" + b"x" * 10_000 + b"</html>")
    assert isinstance(html.error, ServerError) and len(html.error.message) <= 200
    odd = classify(302, {"location": "http://elsewhere"}, b"")
    assert isinstance(odd.error, TransientError)
    assert error_text(b'{"error": "Timeout contacting tranquility"}') == "Timeout contacting tranquility"


def test_error_limit_and_token_headers_are_read() -> None:
    obs = observe(429, {"x-esi-error-limit-remain": "87", "x-esi-error-limit-reset": "42",
                        "x-ratelimit-group": "status", "x-ratelimit-limit": "150/15m",
                        "x-ratelimit-remaining": "148", "x-ratelimit-used": "2", "retry-after": "7"})
    assert (obs.error_remain, obs.error_reset_s, obs.retry_after_s) == (87, 42, 7.0)
    assert obs.tokens is not None
    assert (obs.tokens.group, obs.tokens.limit, obs.tokens.window_s) == ("status", 150, 900)
    assert (obs.tokens.remaining, obs.tokens.used) == (148, 2)


def test_garbage_headers_are_absent_not_errors() -> None:
    obs = observe(200, {"x-esi-error-limit-remain": "lots", "x-esi-error-limit-reset": "1e9",
                        "x-ratelimit-group": "", "retry-after": "nan"})
    assert obs.error_remain is None and obs.error_reset_s is None and obs.tokens is None
    assert obs.retry_after_s is None
    assert parse_limit("150/15x") is None and parse_limit("1/1h") == (1, 3600)


def test_http_dates() -> None:
    when = parse_http_date("Sat, 28 Nov 2026 15:39:56 GMT")
    assert when == dt.datetime(2026, 11, 28, 15, 39, 56, tzinfo=dt.UTC)
    for garbage in ("", "yesterday", "Sat, 99 Nov 2026 99:99:99 GMT", "0", "\x00" * 500):
        assert parse_http_date(garbage) is None
    assert etag_of({"etag": '"abc"'}) == '"abc"' and etag_of({"etag": 'a\r\nX: y'}) is None


@pytest.mark.parametrize("value", ["0\x1f", "\x1f5", "5\x0b", "٣", "1e3", "", " ", "-", "1234567890123"])
def test_a_header_that_is_not_plainly_a_number_reads_as_absent(value: str) -> None:
    assert observe(200, {"x-esi-error-limit-remain": value}).error_remain is None


@pytest.mark.parametrize(("value", "number"), [("7", 7), (" 42\t", 42), ("-3", 0), ("0", 0)])
def test_a_plain_number_with_spaces_around_reads_as_that_number(value: str, number: int) -> None:
    assert observe(200, {"x-esi-error-limit-remain": value}).error_remain == number
