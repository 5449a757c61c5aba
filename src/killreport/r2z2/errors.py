"""What can go wrong talking to R2Z2 (the tree is drawn in the package's docstring)."""

from __future__ import annotations


class R2z2Error(Exception):
    """Base of every R2Z2 failure; `url` is what was asked, `status` the HTTP status if one came."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url
        self.status = status

    def __str__(self) -> str:
        code = f" {self.status}" if self.status is not None else ""
        return f"R2Z2{code} {self.url}: {self.message}"


class NotFound(R2z2Error):
    """404: not published yet, expired, or a stale CDN answer."""


class Throttled(R2z2Error):
    """The feed asks us to slow down: wait `retry_after_s` (None: it did not say)."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message, url=url, status=status)
        self.retry_after_s = retry_after_s


class RateLimited(Throttled):
    """429: too many requests."""


class Forbidden(Throttled):
    """403: refused (no User-Agent, or blocked for bad manners)."""


class ServerError(R2z2Error):
    """5xx."""


class UnexpectedStatus(R2z2Error):
    """Any other status (3xx, 400, 410...): nothing the feed is documented to answer."""


class MalformedBody(R2z2Error):
    """A 200 whose body cannot be used: too large, truncated, not JSON, or not the documented shape."""


class Unreachable(R2z2Error):
    """No HTTP answer: refused, reset, DNS."""


class Timeout(R2z2Error):
    """No complete answer within the request's total time."""
