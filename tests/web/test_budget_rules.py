"""The status page reads the budget by the configured rules: with ESI_DAILY_DOWNTIME=false it shows
no downtime between 10:59:30 and 11:30 UTC, on a clock the test sets."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from killreport.config import Settings
from killreport.domain.budget import DOWNTIME
from killreport.web import build_app
from killreport.wiring import budget_view
from tests.web.conftest import Filled, link_to

AT_10_59_45 = dt.datetime(2026, 12, 7, 10, 59, 45, tzinfo=dt.UTC).timestamp()


async def test_the_status_page_keeps_esi_daily_downtime_false(filled: Filled, declared_vhost: str) -> None:
    link = link_to(declared_vhost)
    shown = {}
    for daily in (False, True):
        view = budget_view(Settings(_env_file=None, esi_daily_downtime=daily), clock=lambda: AT_10_59_45)
        async with TestClient(TestServer(build_app(filled.store, link, view), host="127.0.0.1")) as client:
            resp = await client.get("/api/status")
            assert resp.status == 200
            shown[daily] = (await resp.json())["budget"]
    await link.close()
    assert shown[False]["downtime"] is False and shown[False]["pause_reason"] != DOWNTIME, shown
    # The same clock with the window on: it is the test's clock the page read.
    assert shown[True]["downtime"] is True and shown[True]["pause_reason"] == DOWNTIME, shown


async def test_the_status_page_names_a_cut_cap_group_and_its_pause(filled: Filled,
                                                                   declared_vhost: str) -> None:
    link, now = link_to(declared_vhost), AT_10_59_45
    view = budget_view(Settings(_env_file=None, esi_daily_downtime=False), clock=lambda: now)
    async with filled.engine.begin() as conn:  # the state a cut 10 s ago left (store/sql/esi_settle.sql)
        await conn.execute(text("INSERT INTO esi_cap_groups (grp, next_at, factor, reduced_until, hits,"
                                " cut_at) VALUES ('history', :paused, 0.5, :reduced, 3, :cut)"),
                           {"paused": now + 50, "reduced": now + 590, "cut": now - 10})
    try:
        async with TestClient(TestServer(build_app(filled.store, link, view), host="127.0.0.1")) as client:
            shown = (await (await client.get("/api/status")).json())["budget"]["route_caps"]
            page = await (await client.get("/")).text()
    finally:
        async with filled.engine.begin() as conn:
            await conn.execute(text("DELETE FROM esi_cap_groups"))
        await link.close()
    [group] = shown
    assert (group["group"], group["factor"], group["hits"]) == ("history", 0.5, 3), group
    assert dt.datetime.fromisoformat(group["paused_until"]).timestamp() == now + 50
    section = page[page.index('data-rows="budget.route_caps"'):]
    assert 'data-cols="group factor reduced_until paused_until hits"' in section[:200]
    assert "<td>history</td><td>0.5</td>" in section.split("</tbody>")[0]
