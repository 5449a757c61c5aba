"""The status page and /api/status show the kill feed: who follows, where it is, what went wrong."""

from __future__ import annotations

import re

from tests.web.test_api import Client, get_json
from tests.web.test_pages import page

FEED_VALUES = ("following", "holder", "heartbeat_age_s", "cursor", "head", "lag_kills", "lag_s", "stored",
               "holes", "rejected", "last_error")


async def test_the_status_page_has_a_kill_feed_section_the_json_fills(client: Client) -> None:
    body = await page(client, "/")
    section = body[body.index("<h2>Kill feed</h2>"):body.index("<h2>Queues</h2>")]
    assert set(re.findall(r'data-k="killmails\.feed\.(\w+)"', section)) == set(FEED_VALUES)
    shown = await get_json(client, "/api/status")
    feed, days = shown["killmails"]["feed"], shown["killmails"]["backfill"]
    assert set(FEED_VALUES) <= set(feed)
    # The filled copy was never followed: nothing known, nobody following, no day back-filled.
    assert feed["following"] is False and feed["cursor"] is None and feed["holder"] is None
    assert days["days"] == 0 and days["complete"] == 0
