"""`killreport changes` shows what the changes table holds, filtered, as text or JSON."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from killreport.changes import Change
from killreport.config import sqlalchemy_url
from killreport.store import changes
from tests.cluster import cli_here, env_for, migrated

HOSTILE = "<script>alert(1)</script> [bold]x[/bold] \u202eevil"


async def _record(pg_url: str, *rows: Change) -> None:
    """Record the changes, the renames three hours ago."""
    eng = create_async_engine(sqlalchemy_url(pg_url))
    async with eng.begin() as conn:
        await changes.record(conn, list(rows))
        await conn.execute(text("UPDATE changes SET observed_at = now() - interval '3 hours' "
                                "WHERE field = 'name'"))
    await eng.dispose()


async def test_changes_filters_and_prints_hostile_values_as_they_are(fresh_pg_url: str,
                                                                   rabbit_url: str) -> None:
    await migrated(fresh_pg_url)
    env = env_for(fresh_pg_url, rabbit_url, "http://127.0.0.1:9")
    await _record(fresh_pg_url,
                  Change("corporation", 98000001, "name", "Old", HOSTILE),
                  Change("character", 90000001, "corporation_id", 98000001, 98000002))
    everything = await cli_here(env, "changes", "--json")
    assert everything.code == 0, everything.err
    rows = json.loads(everything.out)["changes"]
    assert [(r["kind"], r["id"], r["field"], r["old"], r["new"]) for r in rows] == [
        ("corporation", 98000001, "name", "Old", HOSTILE),
        ("character", 90000001, "corporation_id", 98000001, 98000002)]
    recent = json.loads((await cli_here(env, "changes", "--since", "1h", "--json")).out)["changes"]
    assert [r["field"] for r in recent] == ["corporation_id"]
    one = json.loads((await cli_here(env, "changes", "--kind", "corporation", "--id", "98000001",
                                "--json")).out)["changes"]
    assert [r["id"] for r in one] == [98000001]
    shown = await cli_here(env, "changes", "--kind", "corporation")
    assert shown.code == 0 and "[bold]x[/bold]" in shown.out and "<script>" in shown.out, shown.out


async def test_status_shows_freshness_per_kind(fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    await migrated(fresh_pg_url)
    eng = create_async_engine(sqlalchemy_url(fresh_pg_url))
    async with eng.begin() as conn:
        for corp_id, expires_in_s in ((98000001, -600), (98000002, 3600)):
            await conn.execute(text(
                "INSERT INTO corporations (id, name, ticker, member_count, description, friendly_fire,"
                " home_station_id, shares, state, type, tax_rate_isk, tax_rate_loyalty_point, war_eligible,"
                " fetched_at, expires_at) VALUES (:id, 'c', 't', 1, '', 'legal', 60003760, 1, 'active',"
                " 'player_owned', 0.1, 0.1, true, now(), now() + make_interval(secs => :s))"),
                {"id": corp_id, "s": expires_in_s})
        await conn.execute(text(
            "INSERT INTO esi_request_log VALUES (date_trunc('minute', now()), '/corporations/{id}', 304, 3),"
            " (date_trunc('minute', now()), '/corporations/{id}', 200, 1)"))
    await eng.dispose()
    env = env_for(fresh_pg_url, fresh_rabbit_url, "http://127.0.0.1:9")
    status = await cli_here(env, "status", "--json")
    assert status.code == 0, status.err
    corporations = json.loads(status.out)["freshness"]["corporation"]
    assert (corporations["tracked"], corporations["past_expires"]) == (2, 1)
    assert 590 <= corporations["oldest_past_s"] <= 700
    assert (corporations["requests_last_hour"], corporations["share_304"]) == (4, 0.75)
    assert json.loads(status.out)["scheduler"] is None
    table = await cli_here(env, "status")
    assert "Freshness" in table.out and "75.0 %" in table.out, table.out
    assert "killreport scheduler" in table.out  # no scheduler ever led: status says how to start one
    eng = create_async_engine(sqlalchemy_url(fresh_pg_url))
    async with eng.begin() as conn:  # a scheduler led, then died: its row stays, its lock went with it
        await conn.execute(text("INSERT INTO scheduler_lease VALUES (1, 'box:42', now(), now())"))
    await eng.dispose()
    scheduler = json.loads((await cli_here(env, "status", "--json")).out)["scheduler"]
    assert (scheduler["holder"], scheduler["active"]) == ("box:42", False)
