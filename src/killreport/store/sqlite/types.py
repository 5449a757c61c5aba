"""Column types of the SQLite schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Dialect, Float
from sqlalchemy.types import TypeDecorator


class UtcEpoch(TypeDecorator[dt.datetime]):
    """An aware datetime kept as UTC epoch seconds (REAL); read back as an aware UTC datetime.

    Why not SQLite's text dates: SQLAlchemy writes them without the zone and compares them as text,
    so any statement mixing a bound datetime with `datetime('now')` would need one format everywhere.
    Seconds compare as numbers, and the statements' clock is `(julianday('now') - 2440587.5) * 86400`.
    """

    impl = Float
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> float | None:
        """A datetime (naive means UTC) as epoch seconds."""
        if value is None:
            return None
        if isinstance(value, int | float):
            return float(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Epoch seconds as an aware UTC datetime."""
        if value is None:
            return None
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
