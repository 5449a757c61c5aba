"""The narrow interface under the ESI client: one request in, one response out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

# Covariant: a Fetched[Alliance] is a Fetched[Alliance | Corporation | Character] (it is read-only).
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class EsiRequest:
    """An HTTP request to ESI, fully formed (absolute URL, every header)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class EsiResponse:
    """An HTTP response; header names are lower-case."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """Sends one request. Raises esi.errors.TransportError when there is no HTTP answer."""

    async def __call__(self, request: EsiRequest) -> EsiResponse: ...


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
