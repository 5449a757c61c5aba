"""The HTML pages over a real database filled through the store: records, links, lists, search."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.web.fill import BIG_ALLIANCE

Client = TestClient[Any, Any]


async def page(client: Client, path: str, status: int = 200) -> str:
    """The HTML answer to a GET, checked for its status and content type."""
    resp = await client.get(path)
    body = await resp.text()
    assert resp.status == status, body[:500]
    assert resp.content_type == "text/html"
    return body


async def test_an_alliance_page_links_its_executor_creators_and_members_biggest_first(client: Client) -> None:
    body = await page(client, "/alliances/99000001")
    assert "Goonswarm Federation" in body and "CONDI" in body
    members = body[body.index("Member corporations"):]
    assert members.index('href="/corporations/98000002"') < members.index('href="/corporations/98000001"') \
        < members.index('href="/corporations/98000003"'), "members are listed biggest first"
    assert 'href="/characters/90000001"' in body  # the creator
    assert "#98000404" in body and "not in the copy yet" in body
    assert "Pilot&#39;s &#34;Corp&#34;" in body
    assert "executor_corporation_id" in body  # its recorded change


async def test_a_corporation_page_links_its_alliance_ceo_and_characters(client: Client) -> None:
    body = await page(client, "/corporations/98000001")
    assert 'href="/alliances/99000001"' in body and 'href="/characters/90000001"' in body
    assert 'href="/characters/90000002"' in body and "(deleted)" in body
    assert 'href="https://example.com/goons"' in body
    assert "Goon Waffe" in body  # the old name, from its changes


async def test_npc_and_system_ids_are_shown_without_links(client: Client) -> None:
    closed = await page(client, "/corporations/98000011")
    assert 'href="/characters/1"' not in closed and "system or NPC" in closed
    pilot = await page(client, "/characters/90000003")
    assert 'href="/corporations/1000167"' not in pilot and "Flies <b>safe</b>" in pilot


async def test_a_character_page_links_its_corporation_alliance_and_says_when_deleted(client: Client) -> None:
    body = await page(client, "/characters/90000002")
    assert 'href="/corporations/98000001"' in body and 'href="/alliances/99000001"' in body
    assert "deleted" in body


async def test_search_puts_the_exact_ticker_first_and_ignores_case(client: Client) -> None:
    body = await page(client, "/search?q=tEsT")
    order = [body.index(f'href="{u}"') for u in ("/alliances/99000002", "/corporations/98000011",
                                                 "/alliances/99000003", "/characters/90000003",
                                                 "/corporations/98000012")]
    assert order == sorted(order), "exact ticker, exact name, name starting so (by kind), contains"


async def test_a_search_for_like_wildcards_takes_them_literally(client: Client) -> None:
    percent = await page(client, "/search?q=%25")
    assert "%s %d {0} ${HOME}" in percent and "GoonWaffe" not in percent
    underscore = await page(client, "/search?q=_")
    assert "<td>_</td>" in underscore and "GoonWaffe" not in underscore
    assert "Nothing in the copy" in await page(client, "/search?q=%5C%25")
    assert "Pilot&#39;s" in await page(client, "/search?q=pilot%27s")


async def test_an_empty_search_shows_the_form(client: Client) -> None:
    assert "by name or ticker" in await page(client, "/search?q=+")


async def test_long_member_lists_page_with_a_next_link(client: Client) -> None:
    first = await page(client, f"/alliances/{BIG_ALLIANCE}?per_page=100")
    assert f'href="/alliances/{BIG_ALLIANCE}?per_page=100&amp;page=2"' in first
    last = await page(client, f"/alliances/{BIG_ALLIANCE}?per_page=100&page=3")
    members = last[last.index("Member corporations"):last.index("Recorded changes")]
    assert 'rel="next"' not in last and members.count('href="/corporations/') == 50


async def test_the_status_page_shows_database_and_broker(client: Client) -> None:
    body = await page(client, "/")
    assert "alliance_sync_queue" in body and "connected" in body
    assert 'src="/static/status.js"' in body
    changes = body[body.index("Recent changes"):]
    assert 'href="/corporations/981000' in changes  # the latest changes, linked to their entities
