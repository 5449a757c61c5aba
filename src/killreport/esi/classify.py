"""Pure reading of ESI responses: what the headers report and what the answer means.

Every function here is total: garbage headers are treated as absent, never raised on, because a
crash while reading a 420 would lose exactly the report the budget needs most.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final, Literal

from killreport.domain.observation import Observation, TokenReport
from killreport.esi.errors import Deleted, EsiError, NotFound, PermanentError, ServerError, TransientError

DELETED_TEXT: Final = "Character has been deleted!"
_WINDOW_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT_RE: Final = re.compile(r"^\s*(\d{1,9})\s*/\s*(\d{1,6})\s*([smhd])\s*$")
# Spaces and tabs only around the digits: `\s` would also take control characters such as \x1f,
# which int() refuses (Hypothesis found '0\x1f' in a header).
_INT_RE: Final = re.compile(r"[ \t]*(-?[0-9]{1,12})[ \t]*")
_MAX_WAIT_S: Final = 3600.0
# ESI's own words for "the game server cannot be reached" (the datasource is named, e.g. tranquility).
_UNAVAILABLE_RE: Final = re.compile(
    r"(?:the datasource \w+ is temporarily unavailable|timeout contacting \w+)\.?", re.IGNORECASE)
_UNAVAILABLE_STATUSES: Final = frozenset({502, 503, 504})
# Error and /status bodies are about 100 bytes: anything larger is some other answer, not parsed here.
_SMALL_BODY_MAX: Final = 1024


OutcomeKind = Literal["ok", "not-modified", "wait", "transient", "permanent"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the client should do with a response."""

    kind: OutcomeKind
    error: EsiError | None = None


def _int(value: str | None) -> int | None:
    found = None if value is None else _INT_RE.fullmatch(value)
    return None if found is None else int(found.group(1))


def _seconds(value: str | None) -> float | None:
    """A non-negative finite number of seconds, capped; None when unreadable."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return min(number, _MAX_WAIT_S)


def parse_limit(value: str | None) -> tuple[int, int] | None:
    """Parse '150/15m' into (tokens, window seconds); None when unreadable."""
    match = _LIMIT_RE.match(value or "")
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) * _WINDOW_UNITS[match.group(3)]


def _tokens(headers: Mapping[str, str]) -> TokenReport | None:
    group = (headers.get("x-ratelimit-group") or "").strip()
    if not group or len(group) > 100:
        return None
    limit = parse_limit(headers.get("x-ratelimit-limit"))
    return TokenReport(
        group=group,
        limit=limit[0] if limit else None,
        window_s=limit[1] if limit else None,
        remaining=_int(headers.get("x-ratelimit-remaining")),
        used=_int(headers.get("x-ratelimit-used")),
    )


def observe(status: int, headers: Mapping[str, str], body: bytes = b"") -> Observation:
    """Extract what a response reports to the budget (headers lower-case): limits, and ESI's state."""
    remain = _int(headers.get("x-esi-error-limit-remain"))
    reset = _int(headers.get("x-esi-error-limit-reset"))
    retry = _seconds(headers.get("retry-after"))
    status_body = _status_body(status, body)
    return Observation(
        status=status,
        is_error=status >= 400,
        error_remain=max(remain, 0) if remain is not None else None,
        error_reset_s=min(max(reset, 0), int(_MAX_WAIT_S)) if reset is not None else None,
        tokens=_tokens(headers),
        retry_after_s=retry,
        unavailable=says_unavailable(status, body),
        up_since=up_since(status_body) if status_body is not None else None,
        fresh_s=_fresh_s(headers) if status_body is not None else None,
    )


def _json(body: bytes) -> object:
    """The parsed body, or None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _error_field(body: bytes) -> str | None:
    """The `error` field of an ESI error body; None when the body is not one."""
    parsed = _json(body)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return str(parsed["error"])
    return None


def error_text(body: bytes) -> str:
    """The `error` field of an ESI error body, or a short excerpt when the body is not one."""
    found = _error_field(body)
    return found[:200] if found is not None else body[:80].decode("utf-8", "replace")


def says_unavailable(status: int, body: bytes) -> bool:
    """Whether an answer says ESI cannot reach the game server, as it does throughout a downtime.

    Only a 502, 503 or 504 whose JSON `error` is exactly one of ESI's two sentences for it (any
    datasource name, any case, a final period or not): "The datasource tranquility is temporarily
    unavailable", "Timeout contacting tranquility". A bare "Bad gateway", an HTML page or a 500 says
    nothing about the game server, and one route's own failure must not stop the whole fleet.
    """
    if status not in _UNAVAILABLE_STATUSES or len(body) > _SMALL_BODY_MAX:
        return False
    text = _error_field(body)
    return text is not None and _UNAVAILABLE_RE.fullmatch(text.strip()) is not None


def _status_body(status: int, body: bytes) -> dict[str, object] | None:
    """The parsed body of a 200 that looks like GET /status's; None for anything else (cheaply)."""
    if status != 200 or len(body) > _SMALL_BODY_MAX or b'"start_time"' not in body:
        return None
    parsed = _json(body)
    return parsed if isinstance(parsed, dict) else None


def up_since(status_body: Mapping[str, object]) -> float | None:
    """The cluster's start_time (epoch seconds) when a /status body shows it open to all, else None.

    `vip` true means only CCP's staff may log in: not back yet. `vip` is optional and absent means
    false; anything but true, false or absent, or an unreadable start_time, proves nothing.
    """
    vip = status_body.get("vip")
    start = status_body.get("start_time")
    if (vip is not None and vip is not False) or not isinstance(start, str) or len(start) > 40:
        return None
    try:
        when = dt.datetime.fromisoformat(start)
    except ValueError:
        return None
    return (when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)).timestamp()


def _fresh_s(headers: Mapping[str, str]) -> float | None:
    """How long ESI caches an answer, on ESI's own clock (Expires - Date); None without both."""
    expires = parse_http_date(headers.get("expires"))
    date = parse_http_date(headers.get("date"))
    if expires is None or date is None:
        return None
    return min(max((expires - date).total_seconds(), 0.0), _MAX_WAIT_S)


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """Decide what a response means: ok / not-modified / wait / transient / permanent."""
    if 200 <= status < 300:
        return Outcome("ok")
    if status == 304:
        return Outcome("not-modified")
    if status in (420, 429):
        # How long, and for whom, is the budget's call: it reads the same headers through observe().
        return Outcome("wait")
    text = error_text(body)
    if status == 404:
        cls = Deleted if text.strip() == DELETED_TEXT else NotFound
        return Outcome("permanent", cls(text, status=status))
    if 400 <= status < 500:
        return Outcome("permanent", PermanentError(text, status=status))
    if status >= 500:
        return Outcome("transient", ServerError(text, status=status))
    return Outcome("transient", TransientError(f"unexpected status: {text}", status=status))


def parse_http_date(value: str | None) -> dt.datetime | None:
    """Parse an HTTP date (Expires, Last-Modified) to an aware UTC datetime; None when unreadable."""
    if not value or len(value) > 100:
        return None
    return _parsed_http_date(value)


@functools.lru_cache(maxsize=4096)
def _parsed_http_date(value: str) -> dt.datetime | None:
    # Cached: answers arriving in the same second carry the same Expires text, and email.utils'
    # parser was 2 % of the embedded runner's CPU (py-spy, bench/embedded.py). Datetimes are immutable.
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" parses as naive.
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def etag_of(headers: Mapping[str, str]) -> str | None:
    """The ETag header as sent back in If-None-Match (quotes kept), None when absent or unusable."""
    value = headers.get("etag")
    if not value or len(value) > 200 or any(ch in value for ch in "\r\n\x00"):
        return None
    return value
