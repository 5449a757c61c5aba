"""What can go wrong talking to ESI.

    EsiError
    ├── TransientError        retry later, through the retry queues; uses up an attempt
    │   ├── TransportError    no HTTP answer: connection refused or reset, timeout
    │   ├── ServerError       5xx (500, 502, 503, 504), including daily downtime
    │   └── MalformedResponse 200 whose body is not what the pinned schema promises
    └── PermanentError        never retried; recorded
        └── NotFound          404
            └── Deleted       404 "Character has been deleted!": remembered as a tombstone

420 (error limit) and 429 (token bucket) never surface: the client waits on the shared budget and
tries again, without using up an attempt.
"""

from __future__ import annotations

import datetime as dt


class EsiError(Exception):
    """Base of every ESI failure.

    `expires_at` is the Expires of the unusable answer that raised it (None: none came, or no
    answer). Asking again before it is asking before Expires, however broken the answer was: ESI's
    cache serves the same body until then, and may treat the request as circumventing it.
    """

    def __init__(self, message: str, *, status: int | None = None, path: str = "",
                 expires_at: dt.datetime | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path
        self.expires_at = expires_at

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        code = f" {self.status}" if self.status is not None else ""
        return f"ESI{code}{where}: {self.message}"


class TransientError(EsiError):
    """Might work later."""


class TransportError(TransientError):
    """No HTTP answer at all."""


class ServerError(TransientError):
    """ESI answered 5xx."""


class MalformedResponse(TransientError):
    """A 2xx whose body does not match the schema."""


class PermanentError(EsiError):
    """Will not work however often it is tried."""


class NotFound(PermanentError):
    """404."""


class Deleted(NotFound):
    """404 for a biomassed character."""
