"""The narrow interface under the ESI client: one request in, one response out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


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
