"""The status page reads the budget by the configured rules: with ESI_DAILY_DOWNTIME=false it shows
no downtime between 10:59:30 and 11:30 UTC, on a clock the test sets."""

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient, TestServer

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
