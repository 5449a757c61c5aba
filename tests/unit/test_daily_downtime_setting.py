"""ESI_DAILY_DOWNTIME chooses whether the budget keeps ESI's daily downtime window."""

from __future__ import annotations

import datetime as dt

from killreport.config import Settings
from killreport.domain.budget_rules import daily_down
from killreport.wiring import budget_rules

AT_10_59_45 = dt.datetime(2026, 11, 30, 10, 59, 45, tzinfo=dt.UTC).timestamp()


def test_the_daily_window_holds_by_default_and_not_when_switched_off() -> None:
    on = budget_rules(Settings(_env_file=None))
    off = budget_rules(Settings(_env_file=None, esi_daily_downtime=False))
    assert daily_down(0.0, AT_10_59_45, on)
    assert not daily_down(0.0, AT_10_59_45, off)
    assert not daily_down(0.0, AT_10_59_45 + 600, off)
