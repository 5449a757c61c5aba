"""zKillboard's R2Z2 kill feed: a typed client over a one-method transport, and the follower that stores it.

    Follower ──► follow.next_step / pace ──► R2z2Client ──► Transport(FeedRequest) -> FeedResponse
       │         (pure: what to ask, when)                  (AiohttpTransport, or a fake in tests)
       ├──► FeedPace (domain.kill_store): R2Z2's cap and pauses, shared by every process (the
       │    store's, killfeed/adapter.py; MemoryPace in this process's memory)
       └──► KillmailStore (domain.kill_store): the cursor, save, holes, refresh_zkb, head and errors

    PacedFeed (paced.py: the back-fill's day files) ──► FeedPace (domain.kill_store, shared by every
    process) and R2z2Client; a raw day file is located, not built (raw.py)

What can go wrong (classify.py maps every answer to one of these; none is raised for a 200 that reads):

    R2z2Error
    ├── NotFound          404: not published yet, expired, or stale (package() and the day files
    │                     answer None for it)
    ├── Throttled         slow down; retry_after_s is the Retry-After (None: not given)
    │   ├── RateLimited   429
    │   └── Forbidden     403 (no User-Agent, or blocked)
    ├── ServerError       5xx
    ├── UnexpectedStatus  any other status
    ├── MalformedBody     a 200 that cannot be used: too large, truncated, not JSON, not the shape
    ├── Unreachable       no HTTP answer: refused, reset, DNS
    └── Timeout           no complete answer within the request's total time

A package whose numbers read but whose killmail or zkb fails the schema is no error: package()
returns it as a domain Rejected, with the reason, for the store to keep aside.
"""

from killreport.r2z2.client import DEFAULT_URL, R2z2Client
from killreport.r2z2.errors import (
    Forbidden,
    MalformedBody,
    NotFound,
    R2z2Error,
    RateLimited,
    ServerError,
    Throttled,
    Timeout,
    UnexpectedStatus,
    Unreachable,
)
from killreport.r2z2.follow import Policy
from killreport.r2z2.follower import Follower
from killreport.r2z2.pace import MemoryPace
from killreport.r2z2.raw import RawDay
from killreport.r2z2.transport import (
    AiohttpTransport,
    FeedRequest,
    FeedResponse,
    Transport,
    aiohttp_transport,
)

__all__ = [
    "DEFAULT_URL",
    "AiohttpTransport",
    "FeedRequest",
    "FeedResponse",
    "Follower",
    "Forbidden",
    "MalformedBody",
    "MemoryPace",
    "NotFound",
    "Policy",
    "R2z2Client",
    "R2z2Error",
    "RateLimited",
    "RawDay",
    "ServerError",
    "Throttled",
    "Timeout",
    "Transport",
    "UnexpectedStatus",
    "Unreachable",
    "aiohttp_transport",
]
