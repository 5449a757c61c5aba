"""The pure reading of ESI responses: total over every status and any header values."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from killreport.esi.classify import classify, http_date, observe, parse_window

headers = st.dictionaries(
    st.sampled_from(["x-esi-error-limit-remain", "x-esi-error-limit-reset", "x-ratelimit-group",
                     "x-ratelimit-limit", "x-ratelimit-remaining", "retry-after", "expires"]),
    st.text(max_size=20),
)


@given(st.integers(100, 599), headers, st.binary(max_size=200))
def test_classify_and_observe_are_total(status: int, hdrs: dict[str, str], body: bytes) -> None:
    outcome = classify(status, body)
    seen = observe(status, hdrs)
    assert seen.is_error == (status >= 400)
    if 200 <= status < 300:
        assert outcome.kind == "ok"
    elif status in (420, 429):
        assert outcome.kind == "wait"
    elif status >= 500:
        assert outcome.kind == "transient"
    elif status == 404:
        assert outcome.kind == "permanent"
    http_date(hdrs.get("expires"))


def test_deleted_character_is_told_apart_from_not_found() -> None:
    deleted = classify(404, json.dumps({"error": "Character has been deleted!"}).encode())
    missing = classify(404, json.dumps({"error": "Character not found"}).encode())
    assert deleted.deleted and not missing.deleted
    assert deleted.kind == missing.kind == "permanent"


def test_html_error_page_is_transient_with_a_short_reason() -> None:
    outcome = classify(502, b"<html><body>Bad gateway</body></html>")
    assert outcome.kind == "transient" and "non-JSON" in outcome.message


def test_error_limit_and_bucket_headers_are_read() -> None:
    seen = observe(200, {"x-esi-error-limit-remain": "42", "x-esi-error-limit-reset": "17"})
    assert (seen.error_remain, seen.error_reset_s, seen.bucket) == (42, 17, None)
    seen = observe(429, {"x-ratelimit-group": "status", "x-ratelimit-limit": "600/15m",
                         "x-ratelimit-remaining": "0", "retry-after": "12"})
    assert seen.bucket is not None and (seen.bucket.limit, seen.bucket.window_s) == (600, 900)
    assert seen.retry_after_s == 12.0 and seen.error_remain is None


@given(st.text(max_size=30))
def test_garbage_limit_windows_are_none_not_errors(text: str) -> None:
    parsed = parse_window(text)
    assert parsed is None or (parsed[0] >= 0 and parsed[1] >= 0)


def test_http_dates() -> None:
    assert http_date("Sat, 28 Nov 2026 15:39:56 GMT") == dt.datetime(2026, 11, 28, 15, 39, 56,
                                                                      tzinfo=dt.UTC)
    assert http_date("tomorrow") is None and http_date(None) is None
