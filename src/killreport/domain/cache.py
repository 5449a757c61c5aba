"""A usable ESI answer and a 304, with the cache facts the next fetch is scheduled by."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

# Covariant: a Fetched[Alliance] is a Fetched[Alliance | Corporation | Character] (it is read-only).
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T_co]):
    """A 200 whose body validated: the data and the cache facts to schedule the next fetch by."""

    data: T_co
    expires_at: dt.datetime | None
    etag: str | None
    last_modified: dt.datetime | None


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304: the stored copy is still current until `expires_at`."""

    expires_at: dt.datetime | None
