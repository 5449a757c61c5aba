"""The JSON API: records, paged lists with a stable order and `next`, search, changes, and its errors."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.web.fill import BIG_ALLIANCE, BIG_MEMBERS

Client = TestClient[Any, Any]


async def get_json(client: Client, path: str, status: int = 200) -> Any:
    """The JSON answer to a GET, checked for its status and content type."""
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def walk(client: Client, path: str) -> list[dict[str, Any]]:
    """Every item of a paged list, following `next` to the end."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url is not None:
        body = await get_json(client, url)
        items += body["items"]
        url = body["next"]
    return items


async def test_an_alliance_record_names_its_links_and_changes(client: Client) -> None:
    body = await get_json(client, "/api/alliances/99000001")
    assert body["alliance"]["name"] == "Goonswarm Federation"
    assert body["alliance"]["date_founded"] == "2015-03-04T05:06:07Z"
    assert body["links"]["executor_corporation"] == {
        "kind": "corporation", "id": 98000001, "name": "GoonWaffe", "ticker": "GEWNS", "npc": False,
        "url": "/corporations/98000001", "api": "/api/corporations/98000001"}
    assert body["links"]["creator"]["name"] == "The Mittani"
    assert body["members"] == "/api/alliances/99000001/corporations"
    assert [(c["field"], c["entity"]) for c in body["changes"]] == [
        ("executor_corporation_id", "Goonswarm Federation")]


async def test_member_pages_cover_every_member_once_in_id_order(client: Client) -> None:
    first = await get_json(client, f"/api/alliances/{BIG_ALLIANCE}/corporations?per_page=100")
    assert first["total"] == len(BIG_MEMBERS) and first["page"] == 1
    assert first["next"] == f"/api/alliances/{BIG_ALLIANCE}/corporations?per_page=100&page=2"
    items = await walk(client, f"/api/alliances/{BIG_ALLIANCE}/corporations?per_page=100")
    assert [c["id"] for c in items] == list(BIG_MEMBERS)
    members = await get_json(client, "/api/alliances/99000001/corporations")
    assert [(c["id"], c["name"]) for c in members["items"]][-1] == (98000404, None)


async def test_a_corporation_record_and_its_characters(client: Client) -> None:
    body = await get_json(client, "/api/corporations/98000001")
    assert body["links"]["alliance"]["ticker"] == "CONDI" and body["links"]["ceo"]["id"] == 90000001
    people = await get_json(client, "/api/corporations/98000001/characters?per_page=1")
    assert [p["id"] for p in people["items"]] == [90000001] and people["total"] == 2
    assert [p["deleted"] for p in await walk(client, "/api/corporations/98000001/characters?per_page=1")] == [
        False, True]


async def test_a_character_record(client: Client) -> None:
    body = await get_json(client, "/api/characters/90000002")
    assert body["character"]["deleted_seen_at"] is not None
    assert body["links"]["corporation"]["name"] == "GoonWaffe"


async def test_search_finds_by_ticker_first(client: Client) -> None:
    body = await get_json(client, "/api/search?q=test")
    assert [(r["kind"], r["id"], r["match"]) for r in body["items"][:2]] == [
        ("alliance", 99000002, "exact_ticker"), ("corporation", 98000011, "exact_name")]
    paged = await walk(client, "/api/search?q=member+corp&per_page=40")
    assert len(paged) == len(BIG_MEMBERS) == len({r["id"] for r in paged})


async def test_changes_filter_by_kind_id_and_time(client: Client) -> None:
    mine = await get_json(client, "/api/changes?kind=character&id=90000001")
    rows = [(c["field"], c["old"], c["new"]) for c in mine["items"]]
    assert rows == [("corporation_id", 98000002, 98000001)]
    assert mine["items"][0]["entity"] == "The Mittani"
    assert (await get_json(client, "/api/changes?since=2h&kind=alliance"))["items"]
    assert (await get_json(client, "/api/changes?since=2999-01-01T00:00"))["items"] == []
    everything = await walk(client, "/api/changes?per_page=7")
    assert [c["id"] for c in everything] == sorted(c["id"] for c in everything)


async def test_the_status_json_holds_what_the_page_shows(client: Client) -> None:
    body = await get_json(client, "/api/status")
    assert body["broker"]["reachable"] is True
    assert {"queues", "pending", "stored", "budget", "requests", "freshness", "rates", "dead_letters",
            "recent_changes", "generated_at"} <= set(body)
    assert body["stored"]["alliances"] > 0
