"""The kill pages over the shared database: a kill, kills and losses on entity pages, their older pages,
and the front page's recent kills."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp.test_utils import TestClient
from markupsafe import escape

from tests.web.conftest import Filled
from tests.web.fill_kills import BARE_KILL, HOSTILE_KILL, HOSTILE_LABELS, STRANGER, VILE_RAT_LOSSES
from tests.web.test_pages import page

Client = TestClient[Any, Any]
_KILL_LINK = re.compile(r'href="/killmails/(\d+)"')


def kill_ids(body: str, after: str = "", before: str | None = None) -> list[int]:
    """The kills a page links to, in order, between the headings `after` and `before`."""
    start = body.index(after) if after else 0
    end = body.index(before, start) if before else len(body)
    return [int(n) for n in _KILL_LINK.findall(body[start:end])]


def older(body: str, side: str) -> str | None:
    """The page's "older" link for `side`, unescaped, or None."""
    found = re.search(rf'<a rel="next" href="([^"]+)">older {side}</a>', body)
    return None if found is None else html.unescape(found.group(1))


async def test_a_kill_page_shows_victim_attackers_final_blow_values_and_labels(client: Client) -> None:
    body = await page(client, f"/killmails/{HOSTILE_KILL}")
    victim = body[body.index("<dt>Victim</dt>"):body.index("<dt>Faction</dt>")]
    assert 'href="/characters/90000001"' in victim and "The Mittani" in victim
    assert 'href="/alliances/99000001"' in victim
    attackers = body[body.index("Attackers (4)"):body.index("Items (1)")]
    rows = attackers.split("<tr")[2:]
    final = [r for r in rows if "final blow" in r]
    assert len(final) == 1 and 'class="final"' in final[0]
    assert f'/characters/{STRANGER["character_id"]}' in final[0]
    assert "not in the copy yet" in final[0], "the stranger is shown by number"
    assert "13537" in rows[1] and "system or NPC" in rows[1], "an NPC: its ship type, no link"
    assert "3082" in rows[0] and "4000" in rows[0], "weapon type and damage"
    assert "123,456,789.25 ISK" in body and "2026-11-30T" in body and "30000142" in body
    for label in HOSTILE_LABELS:
        assert f"<bdi>{escape(label)}</bdi>" in body, label
    assert "<script>" not in body and "javascript:" not in body.split("<main>")[1].split("Labels")[0]


async def test_a_kill_without_zkb_and_a_kill_not_held(client: Client) -> None:
    bare = await page(client, f"/killmails/{BARE_KILL}")
    assert "no zkb block yet" in bare and "Items (0)" in bare
    missing = await page(client, "/killmails/125999999", 404)
    assert "no killmail 125999999 in the copy (yet)" in missing
    assert "before must be a whole number" in await page(client, "/characters/90000002/losses?before=x", 400)


async def test_an_entity_page_shows_its_newest_kills_and_losses(client: Client) -> None:
    rat = await page(client, "/characters/90000002")
    losses = kill_ids(rat, "<h2>Losses</h2>", "Recorded changes")
    newest = sorted(VILE_RAT_LOSSES, reverse=True)
    assert losses == newest[:20]
    assert older(rat, "losses") == f"/characters/90000002/losses?before={newest[19]}"
    assert kill_ids(rat, "<h2>Kills</h2>", "<h2>Losses</h2>") == [BARE_KILL] and older(rat, "kills") is None
    mittani = await page(client, "/characters/90000001")
    assert kill_ids(mittani, "<h2>Losses</h2>", "Recorded changes") == [HOSTILE_KILL]
    assert kill_ids(mittani, "<h2>Kills</h2>", "<h2>Losses</h2>") == newest[:20]
    corporation = await page(client, "/corporations/98000001")
    assert kill_ids(corporation, "<h2>Losses</h2>", "Recorded changes") == newest[:20]
    alliance = await page(client, "/alliances/99000001")
    # Its pilots killed each other: Vile Rat's losses are its kills too.
    assert kill_ids(alliance, "<h2>Kills</h2>", "<h2>Losses</h2>") == newest[:20]


async def test_older_pages_cover_every_loss_once_newest_first(client: Client) -> None:
    seen: list[int] = []
    url: str | None = "/characters/90000002/losses"
    while url is not None:
        body = await page(client, url)
        seen += kill_ids(body, "<h1>")
        url = older(body, "losses")
    assert seen == sorted(VILE_RAT_LOSSES, reverse=True)
    stranger = await page(client, f"/corporations/{STRANGER['corporation_id']}/losses")
    assert kill_ids(stranger, "<h1>") == [BARE_KILL] and "not in the copy yet" in stranger
    empty = await page(client, f"/alliances/99000002/kills?before={HOSTILE_KILL}")
    assert "No kills in the copy below kill" in empty


async def test_the_front_page_lists_the_newest_kills(client: Client, filled: Filled) -> None:
    body = await page(client, "/")
    assert kill_ids(body, "Recent kills") == sorted(filled.kills.by_id, reverse=True)[:20]
