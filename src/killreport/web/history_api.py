"""The JSON API of the past: trends from the daily snapshots, histories, members at a time, joined/left.

Each route answers for an entity the copy holds (else 404, as the record routes do); a bad id,
`days`, `at`, `since` or `until` is a 400 naming what is wrong (history_params.py).
"""

from __future__ import annotations

import datetime as dt

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from killreport.ids import Kind
from killreport.store.interface import Store
from killreport.web import history_views
from killreport.web.api import reply
from killreport.web.history_params import parse_days, parse_time, parse_window
from killreport.web.keys import STORE
from killreport.web.pages import not_found
from killreport.web.params import parse_id


async def _held(store: Store, conn: AsyncConnection, kind: Kind, entity_id: int) -> None:
    """A 404 unless the copy holds the entity."""
    found = {"alliance": store.lookup.alliance, "corporation": store.lookup.corporation,
             "character": store.lookup.character}[kind]
    if await found(conn, entity_id) is None:
        raise not_found(kind, entity_id)


async def _trend(request: web.Request, kind: Kind) -> web.Response:
    entity_id = parse_id(request.match_info["id"])
    days = parse_days(request.query)
    store = request.app[STORE]
    async with store.connect() as conn:
        await _held(store, conn, kind, entity_id)
        rows = await store.history.trend(conn, kind, entity_id, days=days)
    return reply(history_views.trend_body(kind, entity_id, days, rows))


async def alliance_trend(request: web.Request) -> web.Response:
    """An alliance's daily member and corporation counts with 7- and 30-day deltas."""
    return await _trend(request, "alliance")


async def corporation_trend(request: web.Request) -> web.Response:
    """A corporation's daily member counts with 7- and 30-day deltas."""
    return await _trend(request, "corporation")


async def character_history(request: web.Request) -> web.Response:
    """A character's corporations, newest first."""
    character_id = parse_id(request.match_info["id"])
    store = request.app[STORE]
    async with store.connect() as conn:
        await _held(store, conn, "character", character_id)
        items = await history_views.character_history(store, conn, character_id)
    return reply({"kind": "character", "id": character_id, "items": items})


async def corporation_history(request: web.Request) -> web.Response:
    """A corporation's alliances, newest first."""
    corporation_id = parse_id(request.match_info["id"])
    store = request.app[STORE]
    async with store.connect() as conn:
        await _held(store, conn, "corporation", corporation_id)
        items = await history_views.corporation_history(store, conn, corporation_id)
    return reply({"kind": "corporation", "id": corporation_id, "items": items})


async def alliance_members(request: web.Request) -> web.Response:
    """The corporations in an alliance at `at` (default: now)."""
    alliance_id = parse_id(request.match_info["id"])
    now = dt.datetime.now(dt.UTC)
    at = parse_time(request.query, "at", now, now)
    store = request.app[STORE]
    async with store.connect() as conn:
        await _held(store, conn, "alliance", alliance_id)
        items = await history_views.alliance_members_at(store, conn, alliance_id, at)
    return reply({"kind": "alliance", "id": alliance_id, "at": at, "items": items})


async def _joined_left(request: web.Request, kind: Kind) -> web.Response:
    entity_id = parse_id(request.match_info["id"])
    window = parse_window(request.query, dt.datetime.now(dt.UTC))
    store = request.app[STORE]
    async with store.connect() as conn:
        await _held(store, conn, kind, entity_id)
        items = await history_views.joined_left(store, conn, kind, entity_id, window.since, window.until)
    return reply({"kind": kind, "id": entity_id, "since": window.since, "until": window.until,
                  "items": items})


async def alliance_joined_left(request: web.Request) -> web.Response:
    """Corporations that joined or left an alliance in [since, until), oldest first."""
    return await _joined_left(request, "alliance")


async def corporation_joined_left(request: web.Request) -> web.Response:
    """Characters that joined or left a corporation in [since, until), oldest first."""
    return await _joined_left(request, "corporation")
