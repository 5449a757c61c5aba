"""Talking to ESI: a typed client over a one-method transport, every request through the shared budget.

    EsiClient ──► Budget.reserve ──► Transport(EsiRequest) -> EsiResponse ──► Budget.settle
                                     (AiohttpTransport, or a fake in tests)

Errors are drawn in killreport.esi.errors; what a response means is decided by the total
functions of killreport.esi.classify; bodies validate (esi/validate.py) against the pinned models of
killreport.domain.models, which the store shares without loading this client.
"""

from killreport.esi.client import EsiClient, route_of
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
from killreport.esi.transport import AiohttpTransport, aiohttp_transport
from killreport.esi.types import EsiRequest, EsiResponse, Transport

__all__ = [
    "AiohttpTransport", "Deleted", "EsiClient", "EsiError", "EsiRequest", "EsiResponse", "MalformedResponse",
    "NotFound", "PermanentError", "ServerError", "TransientError", "Transport", "TransportError",
    "aiohttp_transport", "route_of",
]
