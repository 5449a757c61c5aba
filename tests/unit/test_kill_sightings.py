"""What kills say about who was where when (store/killmail_rows.sightings): the newest kill wins."""

from __future__ import annotations

import datetime as dt

from killreport.store.killmail_rows import sightings
from tests.kills import NPC_CORPORATION, kill

EARLY, LATE = "2026-12-01T10:00:00Z", "2026-12-01T12:00:00Z"
AT_LATE = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
AT_EARLY = dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)


def test_each_corporation_and_pilot_is_taken_from_its_newest_kill_whatever_the_order() -> None:
    attacker = {"character_id": 90_000_002, "corporation_id": 98_000_001, "alliance_id": 99_000_001}
    late = kill(2, {"character_id": 90_000_001, "corporation_id": 98_000_002}, [attacker], time=LATE)
    early = kill(1, {"character_id": 90_000_001, "corporation_id": 98_000_001, "alliance_id": 99_000_001},
                 [{"corporation_id": NPC_CORPORATION}], time=EARLY)
    for kills in ([late, early], [early, late]):
        corporations, pilots = sightings(kills)
        assert corporations == [{"seen_id": NPC_CORPORATION, "seen_at": AT_EARLY},
                                {"seen_id": 98_000_001, "seen_at": AT_LATE},
                                {"seen_id": 98_000_002, "seen_at": AT_LATE}]
        assert pilots == [
            {"pilot_id": 90_000_001, "pilot_at": AT_LATE, "pilot_corporation": 98_000_002,
             "pilot_alliance": None},
            {"pilot_id": 90_000_002, "pilot_at": AT_LATE, "pilot_corporation": 98_000_001,
             "pilot_alliance": 99_000_001}]


def test_no_kills_say_nothing() -> None:
    assert sightings([]) == ([], [])
