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


E = TypeVar("E", bound=BaseException)


def give_expires(exc: E, expires: dt.datetime | None) -> E:
    """Mark an error raised for an answer that came with an Expires (see `expires_given`)."""
    # The error classes (esi/errors.py) have no field for it; vars() keeps this typed meanwhile.
    vars(exc)["expires_at"] = expires
    return exc


def expires_given(exc: BaseException) -> dt.datetime | None:
    """The Expires ESI sent with the unusable answer that raised `exc` (None: none, or no answer).

    Asking again before it is asking before Expires, however broken the answer was: ESI's cache
    serves the same body until then, and may treat the request as circumventing it.
    """
    value = getattr(exc, "expires_at", None)
    return value if isinstance(value, dt.datetime) else None
