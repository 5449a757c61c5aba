"""The pure parts of fetching histories: when a history is requested, which changes make it wanted,
how an unreadable one becomes a malformed answer, and how `killreport history` reads its input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from killreport.changes import Change
from killreport.cli.errors import UsageError
from killreport.cli.history_cmd import parse_id, parse_when
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.models import AllianceHistoryRecord, CorporationHistoryRecord
from killreport.esi.errors import MalformedResponse
from killreport.store.entities import Stored, due, moves_history
from killreport.sync.fetch import ask_history
from killreport.sync.plan import Request, requests_for

SOON = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_a_history_is_due_only_while_wanted_and_never_once_tombstoned() -> None:
    assert due("character", Stored(fresh=True, history_due=True)) == ("history",)
    assert due("corporation", Stored(fresh=False, history_due=True)) == ("detail", "history")
    assert due("character", Stored(fresh=True)) == ()
    assert due("character", Stored(fresh=True, tombstoned=True, history_due=True)) == ()


def test_requests_carry_the_historys_etag_and_none_without_histories() -> None:
    stored = Stored(fresh=True, history_due=True, history_etag='"h"', etag='"d"')
    assert requests_for("character", stored) == (Request("history", '"h"'),)
    assert requests_for("character", stored, history=False) == ()
    stale = Stored(fresh=False, history_due=True, etag='"d"')
    assert requests_for("corporation", stale, history=False) == (Request("detail", '"d"'),)


def test_only_a_move_makes_a_history_stale() -> None:
    def noted(kind: Any, field: str) -> list[Change]:
        return [Change(kind, 1, "name", "a", "b"), Change(kind, 1, field, 1, 2)]

    assert moves_history("character", noted("character", "corporation_id"))
    assert not moves_history("character", noted("character", "alliance_id")), "its corporation moved"
    assert moves_history("corporation", noted("corporation", "alliance_id"))
    assert not moves_history("corporation", noted("corporation", "ceo_id"))
    assert not moves_history("alliance", noted("alliance", "executor_corporation_id"))
    assert not moves_history("character", [])


class _Histories:
    """An ESI source serving fixed history answers (the only routes ask_history uses)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[tuple[str, int, str | None]] = []

    async def corporation_history(self, character_id: int, etag: str | None = None) -> Any:
        self.asked.append(("corporationhistory", character_id, etag))
        return self.answer

    async def alliance_history(self, corporation_id: int, etag: str | None = None) -> Any:
        self.asked.append(("alliancehistory", corporation_id, etag))
        return self.answer


async def test_ask_history_asks_the_kinds_route_and_passes_good_answers_and_304s() -> None:
    good = Fetched([CorporationHistoryRecord(record_id=1, start_date="2020-01-01T00:00:00Z",
                                             corporation_id=98000001)], SOON, '"e"', None)
    esi = _Histories(good)
    assert await ask_history(esi, "character", 90000001, None) is good  # type: ignore[arg-type]
    esi.answer = NotModified(expires_at=SOON)
    assert isinstance(await ask_history(esi, "corporation", 98000001, '"e"'), NotModified)  # type: ignore[arg-type]
    assert esi.asked == [("corporationhistory", 90000001, None), ("alliancehistory", 98000001, '"e"')]


async def test_an_unreadable_record_is_a_malformed_answer_with_its_expires() -> None:
    bad = Fetched([AllianceHistoryRecord(record_id=7, start_date="2020-02-30T00:00:00Z")], SOON, None, None)
    with pytest.raises(MalformedResponse, match="history record 7") as raised:
        await ask_history(_Histories(bad), "corporation", 98000001, None)  # type: ignore[arg-type]
    assert raised.value.expires_at == SOON and raised.value.status == 200


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-05-03", dt.datetime(2026, 5, 3, tzinfo=dt.UTC)),
    ("2026-05-03T12:30:00Z", dt.datetime(2026, 5, 3, 12, 30, tzinfo=dt.UTC)),
    ("2026-05-03T12:30:00+02:00", dt.datetime(2026, 5, 3, 10, 30, tzinfo=dt.UTC)),
    (" 2026-05-03T12:30 ", dt.datetime(2026, 5, 3, 12, 30, tzinfo=dt.UTC)),
])
def test_when_is_an_iso_date_or_time_read_as_utc(text: str, expected: dt.datetime) -> None:
    assert parse_when(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "3 May 2026", "2026-05-03T25:00"])
def test_a_when_that_is_no_date_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="ISO 8601"):
        parse_when(text)


def test_an_id_is_a_positive_number() -> None:
    assert parse_id("90000001") == 90000001
    for text, says in (("x1", "not a numeric id"), ("0", "positive"), ("-3", "positive"), ("1.5", "numeric")):
        with pytest.raises(UsageError, match=says):
            parse_id(text)
