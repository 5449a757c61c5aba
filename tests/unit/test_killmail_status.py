"""What `status`, the web status page and the metrics make of the kill feed's state: who follows (a
fresh heartbeat, not a name left by a dead one), the lag, the errors, the back-fill's days."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from rich.console import Console

from killreport.cli.render import killmail_table
from killreport.metrics.gauges import show_killmails
from killreport.metrics.names import make_metrics
from killreport.overview import backfill_data, feed_data
from killreport.store.killmails import BackfillDay, FeedState

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def state(**changed: object) -> FeedState:
    base = dict(cursor=1_000_100, head=1_000_150, head_seen_at=NOW - dt.timedelta(seconds=4),
                lag_kills=50, lag_s=12.5, holes=2, rejected=1, stored=99, last_error="Throttled: R2Z2 429",
                last_error_at=NOW,
                holder="box:42", heartbeat_at=NOW - dt.timedelta(seconds=2))
    return FeedState(**{**base, **changed})  # type: ignore[arg-type]


def day(name: str, listed: int, stored: int, expected: int | None, finished: bool) -> BackfillDay:
    return BackfillDay(name, listed, stored, expected, NOW, NOW if finished else None)


DAYS = [day("20261206", 10, 10, 10, True), day("20261205", 10, 9, 10, True),
        day("20261204", 5, 1, None, False)]


def shown(data: Mapping[str, Any]) -> str:
    console = Console(record=True, width=200)
    console.print(killmail_table(data))
    return console.export_text()


def test_a_fresh_heartbeat_follows_and_a_stale_one_names_the_last_follower() -> None:
    live = feed_data(state(), NOW)
    assert live["following"] and live["heartbeat_age_s"] == 2.0 and live["head_seen_age_s"] == 4.0
    text = shown({"feed": live, "backfill": backfill_data(DAYS)})
    assert "box:42 (heartbeat 2.0 s ago)" in text and "50 kills, 12 s" in text
    assert "1000150 (4.0 s ago)" in text and "Throttled: R2Z2 429" in text
    assert "1 of 3 days complete, 20 of 25 kills" in text and "20261205" in text  # finished short: redo
    dead = feed_data(state(heartbeat_at=NOW - dt.timedelta(seconds=60)), NOW)
    assert not dead["following"]
    assert "no (the last was box:42)" in shown({"feed": dead, "backfill": backfill_data([])})


def test_a_feed_never_followed_shows_nothing_known() -> None:
    never = FeedState(None, None, None, None, None, 0, 0, 0, None, None, None, None)
    data = {"feed": feed_data(never, NOW), "backfill": backfill_data([])}
    assert not data["feed"]["following"] and data["backfill"]["newest"] is None
    text = shown(data)
    assert "no: `killreport run`, or `killreport killmails follow`" in text
    assert [line.split()[-2] for line in text.splitlines() if "back-fill" in line or "behind" in line] == [
        "-", "none"]


def test_the_gauges_say_the_same_and_minus_one_for_what_is_not_known() -> None:
    registry = CollectorRegistry()
    metrics = make_metrics(registry)
    show_killmails(metrics, state(head=None, lag_kills=None), DAYS, NOW)
    value = registry.get_sample_value
    assert value("killreport_killmail_cursor") == 1_000_100 and value("killreport_killmail_head") == -1
    assert value("killreport_killmail_lag_kills") == -1 and value("killreport_killmail_lag_seconds") == 12.5
    assert value("killreport_killmail_holes") == 2 and value("killreport_killmail_rejected") == 1
    assert value("killreport_killmail_feed_error") == 1 and value("killreport_killmail_following") == 1
    assert value("killreport_killmail_backfill_days", {"state": "all"}) == 3
    assert value("killreport_killmail_backfill_days", {"state": "complete"}) == 1
    show_killmails(metrics, state(last_error=None, holder=None), [], NOW)
    assert value("killreport_killmail_feed_error") == 0 and value("killreport_killmail_following") == 0
