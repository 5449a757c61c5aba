"""Reading "since when" as people type it: an age (`90s`, `15m`, `2h`, `3d`) or an ISO 8601 time."""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

_AGO: Final = re.compile(r"^(\d+)([smhd])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """The moment `text` names (UTC unless it says otherwise); ValueError naming what is expected."""
    ago = _AGO.match(text.strip())
    try:
        if ago:
            return now - dt.timedelta(seconds=int(ago[1]) * _UNITS[ago[2]])
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r}: expected a time like 2026-11-30T10:00 or an age like 2h") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
