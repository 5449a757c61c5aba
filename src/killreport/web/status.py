"""The live status page's data: `killreport status` plus request rates, dead letters and changes."""

from __future__ import annotations

import datetime as dt
from typing import Final, NoReturn

from killreport.ids import KINDS, Kind, is_valid_id
from killreport.overview import status_data
from killreport.queue.broker import DEAD_LETTER_QUEUE, DeadLetter, QueueStats
from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store
from killreport.store.lookup import Row
from killreport.web import views
from killreport.web.broker_link import BrokerLink
from killreport.web.links import page_url

DEAD_LETTERS_SHOWN: Final = 10
CHANGES_SHOWN: Final = 15


class _KnownStats:
    """A QueueAdmin whose queue stats were already read; the web is read-only, so nothing else works."""

    def __init__(self, stats: list[QueueStats]) -> None:
        self._stats = stats

    async def stats(self) -> list[QueueStats]:
        """The stats read before."""
        return self._stats

    def _read_only(self) -> NoReturn:
        raise PermissionError("the web is read-only")

    async def purge(self) -> dict[str, int]:
        """Refused."""
        self._read_only()

    async def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Refused (BrokerLink peeks them)."""
        self._read_only()

    async def replay_dead(self, kind: Kind | None, limit: int | None) -> int:
        """Refused."""
        self._read_only()

    async def purge_dead(self) -> int:
        """Refused."""
        self._read_only()


def letter_row(letter: DeadLetter) -> Row:
    """A dead letter as the page shows it; a link only when it names a real entity."""
    return {"kind": letter.kind, "id": letter.entity_id, "reason": letter.reason,
            "attempts": letter.attempts, "last_error": letter.last_error,
            "url": _letter_url(letter.kind, letter.entity_id)}


def _letter_url(kind: str | None, entity_id: int | None) -> str | None:
    # A dead letter may be a malformed message: link only what names a real entity.
    for known in KINDS:
        if kind == known and entity_id is not None and is_valid_id(entity_id):
            return page_url(known, entity_id)
    return None


async def gather(store: Store, link: BrokerLink, budget: BudgetView) -> Row:
    """Everything the status page shows (times as datetimes: JSON and the page write them alike)."""
    queues, broker_error = await link.stats()
    data = await status_data(store, _KnownStats(queues), budget)
    waiting = next((q.ready for q in queues if q.name == DEAD_LETTER_QUEUE), 0)
    letters = [] if broker_error else await link.dead_letters(DEAD_LETTERS_SHOWN, waiting)
    async with store.connect() as conn:
        rates = await store.lookup.request_rate(conn)
        latest = await store.lookup.latest_changes(conn, limit=CHANGES_SHOWN)
        changes = await views.recent_changes(store.lookup, conn, latest)
    broker = {"reachable": broker_error is None, "dead_letters_waiting": waiting,
              "state": broker_error or "connected"}
    return {**data, "broker": broker, "rates": rates, "dead_letters": [letter_row(d) for d in letters],
            "recent_changes": changes, "generated_at": dt.datetime.now(dt.UTC)}
