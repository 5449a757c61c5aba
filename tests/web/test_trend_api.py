"""`GET /api/alliances/{id}/trend` and `/api/corporations/{id}/trend` over the shared database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.web.fill_history import HELD, MISSED, TREND_ALLIANCE, TREND_CORPORATION, pilots, today
from tests.web.test_api import Client, get_json


def expected(kind: str, days: int) -> list[dict[str, Any]]:
    """The held days of the window with their deltas, from fill_history's counts."""
    def delta(days_ago: int, age: int) -> int | None:
        older = days_ago + age
        return None if older not in HELD else pilots(kind, days_ago) - pilots(kind, older)
    return [{"day": (today() - dt.timedelta(days=d)).isoformat(), "member_count": pilots(kind, d),
             "corporation_count": 4 if kind == "alliance" else None,
             "delta_7": delta(d, 7), "delta_30": delta(d, 30)} for d in HELD if d < days]


async def test_an_alliance_trend_has_every_held_day_with_its_deltas(client: Client) -> None:
    body = await get_json(client, f"/api/alliances/{TREND_ALLIANCE}/trend")
    assert (body["kind"], body["id"], body["days"]) == ("alliance", TREND_ALLIANCE, 90)
    assert body["items"] == expected("alliance", 90)
    held = {item["day"] for item in body["items"]}
    assert not held & {(today() - dt.timedelta(days=d)).isoformat() for d in MISSED}, "no day made up"
    last = body["items"][-1]
    # By hand: today 15,000 + 2,400 - 600 = 16,800; 7 days ago the same less 280; 30 days ago
    # 15,000 + 1,200 + 50 (30 % 7 = 2) = 16,250, before the fall.
    assert (last["member_count"], last["delta_7"], last["delta_30"]) == (16_800, 280, 550)


async def test_a_corporation_trend_and_a_shorter_window(client: Client) -> None:
    body = await get_json(client, f"/api/corporations/{TREND_CORPORATION}/trend?days=10")
    assert body["items"] == expected("corporation", 10) and len(body["items"]) == 10
    assert body["items"][0]["delta_30"] is not None, "days before the window still give deltas"
    gap = await get_json(client, f"/api/corporations/{TREND_CORPORATION}/trend?days=30")
    after_gap = [i for i in gap["items"] if i["day"] == (today() - dt.timedelta(days=15)).isoformat()]
    assert after_gap[0]["delta_7"] is None, "22 days ago was never taken"


async def test_an_entity_without_snapshots_has_an_empty_trend(client: Client) -> None:
    body = await get_json(client, "/api/corporations/98000002/trend?days=3650")
    assert body == {"kind": "corporation", "id": 98000002, "days": 3650, "items": []}


@pytest.mark.parametrize(("query", "message"), [
    ("?days=0", "days must be a whole number from 1 to 3650, got '0'"),
    ("?days=3651", "days must be a whole number from 1 to 3650, got '3651'"),
    ("?days=-3", "days must be a whole number from 1 to 3650, got '-3'"),
    ("?days=7.5", "days must be a whole number from 1 to 3650, got '7.5'"),
    ("?days=%D9%A3", "days must be a whole number from 1 to 3650, got '٣'"),
    ("?days=1&days=2", "days is given 2 times; give it once"),
    ("?days=" + "9" * 5000, "days must be a whole number from 1 to 3650, got '" + "9" * 40 + "…'"),
])
async def test_a_bad_days_is_a_400_that_says_why(client: Client, query: str, message: str) -> None:
    body = await get_json(client, f"/api/alliances/{TREND_ALLIANCE}/trend{query}", 400)
    assert body == {"error": message}


async def test_an_unknown_or_malformed_id_is_answered_as_the_records_are(client: Client) -> None:
    assert await get_json(client, "/api/alliances/123/trend", 404) == {
        "error": "no alliance 123 in the copy (yet)"}
    assert (await get_json(client, "/api/corporations/x/trend", 400))["error"].startswith("id must be")
