"""Route templates, as killreport.esi.client.route_of names them, and how requests are counted: by
route template and HTTP status."""

from __future__ import annotations

from typing import Final

# A route template (`/alliances/{id}`) and a status (NO_ANSWER_STATUS when there was no answer).
RouteStatus = tuple[str, int]
# How request counts by status record a request that got no HTTP answer.
NO_ANSWER_STATUS: Final = 0

# The two history routes (`.format(id=...)` gives a path): behind a hidden per-IP limit that answers
# without any limit header, reportedly (esi-reference.md), so a budget may cap them on their own.
CORPORATION_HISTORY: Final = "/characters/{id}/corporationhistory"
ALLIANCE_HISTORY: Final = "/corporations/{id}/alliancehistory"
