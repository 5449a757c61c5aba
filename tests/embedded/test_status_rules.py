"""`status --watch` (and `status`) read the budget by the configured rules: with
ESI_DAILY_DOWNTIME=false no downtime shows between 10:59:30 and 11:30 UTC, on a clock the test sets."""

from __future__ import annotations

import datetime as dt
import io
import re

from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from killreport.cli.watch import frame
from killreport.config import Settings
from killreport.overview import status_data
from killreport.queue.table import TableQueue
from killreport.queue.topology import DEFAULT_RETRY_DELAYS_S
from killreport.wiring import budget_view
from tests.embedded.sqlite_files import db_file, db_url, engine, migrated_template
from tests.stores import as_store

__all__ = ["db_file", "db_url", "engine", "migrated_template"]  # fixtures
AT_10_59_45 = dt.datetime(2026, 12, 7, 10, 59, 45, tzinfo=dt.UTC).timestamp()
AT_NOON = AT_10_59_45 + 3600


def settings(db_url: str, daily: bool) -> Settings:
    """Settings on the test's file, with the daily downtime window on or off."""
    return Settings(_env_file=None, database_url=db_url, esi_daily_downtime=daily)


async def watched(engine: AsyncEngine, db_url: str, daily: bool, at: float) -> str:
    """One `status --watch` redraw at `at`, as text."""
    view = budget_view(settings(db_url, daily), clock=lambda: at)
    shown, _ = await frame(as_store(engine, db_url), TableQueue(engine, DEFAULT_RETRY_DELAYS_S), view, None)
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(shown)
    return console.export_text()


def downtime_row(text: str) -> str:
    """The value the budget table shows for `downtime`."""
    found = re.search(r"downtime\s*│\s*(\w+)", text)
    assert found is not None, text
    return found.group(1)


async def test_the_watch_shows_no_downtime_at_10_59_45_when_the_setting_is_off(
        engine: AsyncEngine, db_url: str) -> None:
    assert downtime_row(await watched(engine, db_url, False, AT_10_59_45)) == "False"
    assert downtime_row(await watched(engine, db_url, True, AT_10_59_45)) == "True"
    assert downtime_row(await watched(engine, db_url, True, AT_NOON)) == "False"


async def test_status_reads_the_same_view(engine: AsyncEngine, db_url: str) -> None:
    store, admin = as_store(engine, db_url), TableQueue(engine, DEFAULT_RETRY_DELAYS_S)
    off = await status_data(store, admin, budget_view(settings(db_url, False), clock=lambda: AT_10_59_45))
    on = await status_data(store, admin, budget_view(settings(db_url, True), clock=lambda: AT_10_59_45))
    assert (off["budget"]["downtime"], on["budget"]["downtime"]) == (False, True)
