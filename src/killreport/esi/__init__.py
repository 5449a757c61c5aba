"""Talking to ESI: a typed client over a one-method transport, every request through the shared budget.

    EsiClient ──► Budget.reserve ──► Transport(EsiRequest) -> EsiResponse ──► Budget.settle
                                     (AiohttpTransport, or a fake in tests)

Errors are drawn in killreport.esi.errors; what a response means is decided by the total
functions of killreport.esi.classify; bodies validate against the pinned models.
"""

from killreport.esi.client import EsiClient, route_of, user_agent
from killreport.esi.errors import (
    Deleted,
    EsiError,
    MalformedResponse,
    NotFound,
    PermanentError,
    ServerError,
    TransientError,
    TransportError,
)
from killreport.esi.models import Affiliation, Alliance, Character, Corporation, Entity, Status
from killreport.esi.transport import AiohttpTransport, aiohttp_transport
from killreport.esi.types import EsiRequest, EsiResponse, Fetched, NotModified, Transport

__all__ = [
    "Affiliation", "AiohttpTransport", "Alliance", "Character", "Corporation", "Deleted", "Entity",
    "EsiClient", "EsiError", "EsiRequest", "EsiResponse", "Fetched", "MalformedResponse", "NotFound",
    "NotModified", "PermanentError", "ServerError", "Status", "TransientError", "Transport",
    "TransportError", "aiohttp_transport", "route_of", "user_agent",
]
