"""How requests are counted: by route template and HTTP status."""

from __future__ import annotations

from typing import Final

# A route template (`/alliances/{id}`) and a status (NO_ANSWER_STATUS when there was no answer).
RouteStatus = tuple[str, int]
# How request counts by status record a request that got no HTTP answer.
NO_ANSWER_STATUS: Final = 0
