"""Reading what a request asks for (ids, paging, filters), or a 400 that says exactly what is wrong."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Final

from multidict import MultiMapping

from killreport.ids import KINDS, MAX_ID, Kind
from killreport.since import parse_since

MAX_PER_PAGE: Final = 1000
# Deep offsets make PostgreSQL walk every skipped row; no list here is that long.
MAX_OFFSET: Final = 1_000_000
MAX_QUERY_CHARS: Final = 100
_DIGITS: Final = re.compile(r"[0-9]{1,19}")
_SHOWN_CHARS: Final = 40


class Problem(Exception):
    """A request that cannot be answered as asked: an HTTP status and one line saying why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _shown(text: str) -> str:
    # Echoed in error messages (escaped wherever shown), but never at any length.
    return repr(text[:_SHOWN_CHARS] + ("…" if len(text) > _SHOWN_CHARS else ""))


def parse_id(text: str, name: str = "id") -> int:
    """An entity id from a path or query: a whole number from 1 to 2^63-1."""
    if _DIGITS.fullmatch(text) and 1 <= int(text) <= MAX_ID:
        return int(text)
    raise Problem(400, f"{name} must be a whole number from 1 to {MAX_ID}, got {_shown(text)}")


def single(query: MultiMapping[str], name: str) -> str | None:
    """A query parameter given at most once (None when absent)."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise Problem(400, f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def _whole(query: MultiMapping[str], name: str, default: int, low: int, high: int) -> int:
    text = single(query, name)
    if text is None:
        return default
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise Problem(400, f"{name} must be a whole number from {low} to {high}, got {_shown(text)}")
    return int(text)


@dataclass(frozen=True, slots=True)
class Paging:
    """Which page of a list, and how long pages are."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.per_page


def parse_paging(query: MultiMapping[str], default_per_page: int = 100) -> Paging:
    """`page` (from 1) and `per_page` (1 to 1000); the page must start within the first million rows."""
    per_page = _whole(query, "per_page", default_per_page, 1, MAX_PER_PAGE)
    page = _whole(query, "page", 1, 1, MAX_OFFSET)
    if (page - 1) * per_page > MAX_OFFSET:
        raise Problem(400, f"page {page} of {per_page} starts past row {MAX_OFFSET:,}; no list is that long")
    return Paging(page, per_page)


def parse_kind(query: MultiMapping[str]) -> Kind | None:
    """`kind`: alliance, corporation or character (None when absent)."""
    text = single(query, "kind")
    if text is None:
        return None
    for kind in KINDS:
        if text == kind:
            return kind
    raise Problem(400, f"kind must be one of {', '.join(KINDS)}, got {_shown(text)}")


def parse_since_param(query: MultiMapping[str], now: dt.datetime) -> dt.datetime | None:
    """`since`: an ISO 8601 time (UTC unless it says otherwise) or an age like 90s, 15m, 2h, 3d."""
    text = single(query, "since")
    if text is None:
        return None
    try:
        # The same reading as `killreport changes --since`.
        return parse_since(text, now)
    except ValueError:
        raise Problem(400, f"since must be a time like 2026-11-30T10:00 or an age like 2h, "
                           f"got {_shown(text)}") from None


def parse_search(query: MultiMapping[str]) -> str | None:
    """`q`, stripped (None when absent or blank), at most 100 characters."""
    text = (single(query, "q") or "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise Problem(400, f"q must be at most {MAX_QUERY_CHARS} characters, got {len(text)}")
    if "\x00" in text:
        raise Problem(400, "q must not contain NUL characters")
    return text or None


MAX_KILLS: Final = 1000
DEFAULT_KILLS: Final = 100
# The export's query parameters: a misspelt filter must not quietly export every kill.
EXPORT_PARAMETERS: Final = ("after", "limit", "character_id", "corporation_id", "alliance_id")


@dataclass(frozen=True, slots=True)
class Export:
    """Which kills `GET /api/killmails` asks for: ids above `after`, at most `limit`, one entity's."""

    after: int
    limit: int
    kind: Kind | None = None
    entity_id: int | None = None


def _known_only(query: MultiMapping[str], known: tuple[str, ...]) -> None:
    unknown = sorted({name for name in query if name not in known})
    if unknown:
        raise Problem(400, f"unknown parameter {_shown(unknown[0])}; this endpoint takes {', '.join(known)}")


def parse_export(query: MultiMapping[str]) -> Export:
    """`after` (a killmail id, 0 for the first), `limit` (1 to 1000) and at most one of `character_id`,
    `corporation_id`, `alliance_id`; anything else is a 400."""
    _known_only(query, EXPORT_PARAMETERS)
    after = _whole(query, "after", 0, 0, MAX_ID)
    limit = _whole(query, "limit", DEFAULT_KILLS, 1, MAX_KILLS)
    filters = [(kind, text) for kind in KINDS if (text := single(query, f"{kind}_id")) is not None]
    if len(filters) > 1:
        raise Problem(400, "give at most one of character_id, corporation_id, alliance_id, got "
                           + " and ".join(f"{kind}_id" for kind, _ in filters))
    if not filters:
        return Export(after, limit)
    kind, text = filters[0]
    return Export(after, limit, kind, parse_id(text, f"{kind}_id"))


def parse_before(query: MultiMapping[str]) -> int | None:
    """`before`: list kills with ids below this one (None when absent: from the newest)."""
    text = single(query, "before")
    return None if text is None else parse_id(text, "before")
