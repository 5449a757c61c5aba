"""Pure reading of the feed's answers: every status maps to success or one error, garbage never raises.

Bodies are parsed against domain/killmail.py's models; a package known by its numbers but whose
killmail or zkb fails them becomes a Rejected with the reason, every other unusable body a MalformedBody.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, TypeVar

from pydantic import TypeAdapter, ValidationError

from killreport.domain.killmail import Envelope, Package, Rejected
from killreport.r2z2.errors import (
    Forbidden,
    MalformedBody,
    NotFound,
    R2z2Error,
    RateLimited,
    ServerError,
    UnexpectedStatus,
)
from killreport.r2z2.transport import FeedResponse

T = TypeVar("T")
_MAX_RETRY_AFTER_S: Final = 3600.0


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (0..1 h), or None when absent or unreadable (an HTTP date is not read)."""
    try:
        value = float(headers.get("retry-after", "").strip())
    except ValueError:
        return None
    return min(value, _MAX_RETRY_AFTER_S) if math.isfinite(value) and value >= 0 else None


def failure(response: FeedResponse, url: str) -> R2z2Error | None:
    """None for a 200, else the error the status means."""
    status = response.status
    if status == 200:
        return None
    if status == 404:
        return NotFound("not found", url=url, status=status)
    if status == 429:
        return RateLimited("too many requests", url=url, status=status,
                           retry_after_s=retry_after(response.headers))
    if status == 403:
        return Forbidden("forbidden", url=url, status=status, retry_after_s=retry_after(response.headers))
    if 500 <= status <= 599:
        return ServerError("server error", url=url, status=status)
    return UnexpectedStatus(f"unexpected status {status}", url=url, status=status)


def read(schema: TypeAdapter[T], body: bytes, url: str) -> T:
    """A body validated against `schema`, or MalformedBody with a short reason (never the body)."""
    try:
        return schema.validate_json(body, strict=True)
    except ValidationError as exc:
        raise MalformedBody(reason(exc), url=url, status=200) from None
    except (ValueError, RecursionError) as exc:
        raise MalformedBody(f"unreadable body: {type(exc).__name__}", url=url, status=200) from None


def reason(exc: ValidationError) -> str:
    """The first schema failure, short: where and what."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])[:120] or "body"
    return f"schema mismatch at {where}: {first['msg'][:120]}"


_ENVELOPE: Final = TypeAdapter(Envelope)
_PACKAGE: Final = TypeAdapter(Package)


def package(body: bytes, url: str) -> Package | Rejected:
    """A package, or Rejected when its numbers read but its killmail or zkb do not; else MalformedBody."""
    head = read(_ENVELOPE, body, url)
    try:
        found = _PACKAGE.validate_json(body, strict=True)
    except ValidationError as exc:
        return Rejected(head.sequence_id, head.killmail_id, head.hash, reason(exc), body)
    if found.esi.killmail_id != found.killmail_id:
        why = f"esi.killmail_id {found.esi.killmail_id} is not the package's {found.killmail_id}"
        return Rejected(head.sequence_id, head.killmail_id, head.hash, why, body)
    return found
