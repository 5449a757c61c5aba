"""Pure reading of an ESI response: what the limits say (Observation) and what it means (Outcome)."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

OutcomeKind = Literal["ok", "not_modified", "wait", "transient", "permanent"]
DELETED_TEXT = "Character has been deleted!"
_WINDOW = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Bucket:
    """A token-bucket report: `X-Ratelimit-*` headers of one response."""

    group: str
    limit: int | None
    window_s: int | None
    remaining: int | None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one response (or its absence) tells the budget."""

    status: int
    is_error: bool
    error_remain: int | None = None
    error_reset_s: int | None = None
    bucket: Bucket | None = None
    retry_after_s: float | None = None

    @classmethod
    def no_answer(cls) -> Observation:
        """A timeout or refused connection: ESI counts timeouts as errors, so we do too."""
        return cls(status=0, is_error=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a response means for the job that asked."""

    kind: OutcomeKind
    status: int
    message: str = ""
    deleted: bool = False


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        number = float(value.strip()) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 1e9 else None


def parse_window(text: str | None) -> tuple[int, int] | None:
    """`150/15m` → (150, 900); anything else → None."""
    match = _WINDOW.match(text or "")
    if match is None:
        return None
    return int(match[1]), int(match[2]) * _UNITS[match[3]]


def observe(status: int, headers: Mapping[str, str]) -> Observation:
    """The limit facts a response carries (header names lower-case)."""
    group = headers.get("x-ratelimit-group")
    bucket = None
    if group:
        window = parse_window(headers.get("x-ratelimit-limit"))
        bucket = Bucket(group=group, limit=window[0] if window else None,
                        window_s=window[1] if window else None,
                        remaining=_int(headers.get("x-ratelimit-remaining")))
    return Observation(
        status=status, is_error=status >= 400,
        error_remain=_int(headers.get("x-esi-error-limit-remain")),
        error_reset_s=_int(headers.get("x-esi-error-limit-reset")),
        bucket=bucket, retry_after_s=_float(headers.get("retry-after")),
    )


def error_text(body: bytes) -> str:
    """The `error` of an ESI error body, or a short description of what came instead."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return f"non-JSON body ({len(body)} bytes)"
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])[:300]
    return "error body without an error field"


def classify(status: int, body: bytes) -> Outcome:
    """Sort a response into ok / not-modified / wait / transient / permanent."""
    if 200 <= status < 300:
        return Outcome("ok", status)
    if status == 304:
        return Outcome("not_modified", status)
    message = error_text(body)
    if status in (420, 429):
        return Outcome("wait", status, message)
    if status == 404:
        return Outcome("permanent", status, message, deleted=message == DELETED_TEXT)
    if 400 <= status < 500 and status != 408:
        return Outcome("permanent", status, message)
    return Outcome("transient", status, message)


def http_date(value: str | None) -> dt.datetime | None:
    """An HTTP date header as an aware datetime; garbage is None."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
