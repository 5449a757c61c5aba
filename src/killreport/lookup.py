"""Ids met elsewhere, looked up on demand: what the copy holds, the rest fetched through the queues.

`killreport lookup ID...` and `POST /api/lookup` both land here. An id's kind is told from the
ranges ESI hands ids out in, never by asking ESI:

- no request at all is made here, in any mode: an id the copy does not hold is put on the pending set
  and the job queue (sync.enqueue, as every other entity) and fetched by the workers under the one
  ESI budget. On a SQLite file that keeps the rule that only the runner talks to ESI: the lookup's
  queueing is plain inserts, its waiting plain reads;
- `POST /universe/names` would name the kind of every id, but a single unknown id fails the whole
  call with a 404 that counts against the shared error limit, and on a SQLite file it would need a
  new ask of the runner. The ranges cost nothing and tell every id but one group apart;
- that group is the range all three kinds shared before November 2010 (100,000,000..2,099,999,999):
  such an id is answered when the copy holds it under any kind, and otherwise `ambiguous`, never
  queued (queueing it under all three kinds would probe ESI with two 404s out of three).

System, NPC and faction ids are answered as such and never queued; ids outside every player range
are `invalid`. The wait is bounded; what has not arrived by then is `pending` (the workers still
fetch it), and an id whose fetch ended without a record is `unknown` (ESI has no such entity).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from killreport.ids import KINDS, MAX_ID, Kind, is_valid_id
from killreport.queue.broker import Publisher
from killreport.store.interface import Store
from killreport.sync.enqueue import enqueue

MAX_IDS: Final = 100
DEFAULT_WAIT_S: Final = 10.0
MAX_WAIT_S: Final = 120.0
POLL_S: Final = 0.25

Status = Literal["held", "pending", "unknown", "npc", "faction", "ambiguous", "invalid"]
Row = dict[str, Any]

_REASONS: Final[dict[str, str]] = {
    "npc": "a system or NPC id: ESI has nothing of it for the copy to hold",
    "faction": "a faction id: ESI has nothing of it for the copy to hold",
    "ambiguous": "created before November 2010, when every kind shared this range: its kind cannot be "
                 "told from the id, so it is not fetched",
    "pending": "queued; the workers have not fetched it yet",
    "unknown": "fetched: ESI has no such entity",
}


class LookupRefused(ValueError):
    """A lookup that cannot be made as asked (too many ids, a bad wait); the message is one line."""


@dataclass(frozen=True, slots=True)
class Classified:
    """What an id's number alone says: a kind to look up (and fetch), or a status answered at once."""

    kind: Kind | None
    status: Status | None
    reason: str | None = None


# ESI's id ranges (as CCP documents them), first to last: what each says of an id.
_RANGES: Final[tuple[tuple[int, int, Classified], ...]] = (
    (1, 1, Classified(None, "npc", _REASONS["npc"])),                                  # EVE System
    (500_000, 599_999, Classified(None, "faction", _REASONS["faction"])),
    (1_000_000, 1_999_999, Classified("corporation", "npc", _REASONS["npc"])),          # Doomheim too
    (3_000_000, 3_999_999, Classified("character", "npc", _REASONS["npc"])),
    (90_000_000, 97_999_999, Classified("character", None)),
    (98_000_000, 98_999_999, Classified("corporation", None)),
    (99_000_000, 99_999_999, Classified("alliance", None)),
    (100_000_000, 2_099_999_999, Classified(None, "ambiguous", _REASONS["ambiguous"])),  # before Nov 2010
    (2_100_000_000, 2**31 - 1, Classified("character", None)),  # characters are 32-bit ids in the game
)
_INVALID: Final = Classified(None, "invalid", f"not a valid ESI id (1..{MAX_ID})")
_NO_ENTITY: Final = Classified(None, "invalid", "no character, corporation or alliance has such an id "
                                                "(player ids are 90,000,000..2,147,483,647)")


def classify(entity_id: int) -> Classified:
    """Tell an id's kind from ESI's ranges, or why it is answered without fetching."""
    if not is_valid_id(entity_id):
        return _INVALID
    for first, last, what in _RANGES:
        if first <= entity_id <= last:
            return what
    return _NO_ENTITY


def bounded_ids(ids: Sequence[int]) -> list[int]:
    """The ids once each, in the order given; LookupRefused for none or more than MAX_IDS."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise LookupRefused("name at least one id")
    if len(unique) > MAX_IDS:
        raise LookupRefused(f"at most {MAX_IDS} ids per lookup, got {len(unique)}")
    return unique


def bounded_wait(wait_s: float, maximum: float = MAX_WAIT_S) -> float:
    """The wait asked for, checked: from 0 to `maximum` seconds."""
    if not 0 <= wait_s <= maximum:
        raise LookupRefused(f"the wait must be from 0 to {maximum:g} s, got {wait_s:g}")
    return float(wait_s)


@dataclass(frozen=True, slots=True)
class Answer:
    """One id's answer: its status, its kind when known, what the copy holds of it, or why not."""

    id: int
    status: Status
    kind: Kind | None = None
    reason: str | None = None
    record: Row | None = None

    def as_json(self) -> Row:
        """The answer as the API and `--json` show it."""
        return {"id": self.id, "status": self.status, "kind": self.kind, "reason": self.reason,
                **(self.record or {})}


@dataclass(frozen=True, slots=True)
class Report:
    """Every id's answer, in the order asked, and how long the lookup waited for the workers."""

    answers: list[Answer]
    waited_s: float
    queued: int = 0
    ids_by_status: dict[str, list[int]] = field(init=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[int]] = {}
        for answer in self.answers:
            grouped.setdefault(answer.status, []).append(answer.id)
        object.__setattr__(self, "ids_by_status", grouped)

    def of(self, status: Status) -> list[int]:
        """The ids answered with `status`."""
        return self.ids_by_status.get(status, [])

    def as_json(self) -> Row:
        """The whole answer: each id, then which are still pending, unknown, ambiguous or invalid."""
        return {"ids": [a.as_json() for a in self.answers], "pending": self.of("pending"),
                "unknown": self.of("unknown"), "ambiguous": self.of("ambiguous"),
                "invalid": self.of("invalid"), "queued": self.queued, "waited_s": round(self.waited_s, 3)}


def parse_request(data: Any, *, default_wait_s: float, max_wait_s: float) -> tuple[list[int], float]:
    """The ids and wait of a decoded JSON body: `[id, ...]` or `{"ids": [...], "wait_s": n}`."""
    wait: Any = default_wait_s
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"ids", "wait_s"})
        if unknown:
            raise LookupRefused(f"unknown field {unknown[0]!r}; expected ids and wait_s")
        if "ids" not in data:
            raise LookupRefused("the body names no ids (expected {\"ids\": [...]})")
        data, wait = data["ids"], data.get("wait_s", default_wait_s)
    if not isinstance(data, list):
        raise LookupRefused("expected a JSON list of ids, or an object with ids and wait_s")
    for n, value in enumerate(data):
        if isinstance(value, bool) or not isinstance(value, int):
            raise LookupRefused(f"ids[{n}] is not an integer id")
    if isinstance(wait, bool) or not isinstance(wait, int | float):
        raise LookupRefused("wait_s must be a number of seconds")
    return bounded_ids(data), bounded_wait(wait, max_wait_s)


OpenQueue = Callable[[], Awaitable[Publisher]]


async def look_up(store: Store, queue: OpenQueue, ids: Sequence[int], *, wait_s: float,
                  poll_s: float = POLL_S, clock: Callable[[], float] = time.monotonic) -> Report:
    """Answer every id: what the copy holds, the rest queued and awaited up to `wait_s`.

    `queue` gives the job queue, asked only when an id must be queued: ids the copy holds, and those
    answered from their number, are answered while the broker is down."""
    wanted = bounded_ids(ids)
    classes = {i: classify(i) for i in wanted}
    held = await _held(store, [i for i, c in classes.items() if c.status in (None, "ambiguous")], classes)
    fetch: dict[Kind, list[int]] = {}
    for i, c in classes.items():
        if c.status is None and c.kind is not None and i not in held:
            fetch.setdefault(c.kind, []).append(i)
    queued = 0
    if fetch:
        jobs = await queue()
        for kind, kind_ids in fetch.items():
            queued += await enqueue(store, jobs, kind, kind_ids, skip_fresh=False)
    started = clock()
    pending = await _awaited(store, fetch, held, started + wait_s, poll_s, clock)
    records = await _records(store, held)
    answers = [_answer(i, classes[i], held, records, pending) for i in wanted]
    return Report(answers, clock() - started, queued)


async def _held(store: Store, ids: Iterable[int], classes: dict[int, Classified]) -> dict[int, Kind]:
    """The kind each id is held under in the copy (ambiguous ids: under any kind)."""
    wanted: list[tuple[Kind, int]] = []
    for i in ids:
        kind = classes[i].kind
        wanted += [(k, i) for k in (KINDS if kind is None else (kind,))]
    if not wanted:
        return {}
    async with store.connect() as conn:
        found = await store.lookup.names(conn, wanted)
    return {i: k for k, i in found}


async def _awaited(store: Store, fetch: dict[Kind, list[int]], held: dict[int, Kind], deadline: float,
                   poll_s: float, clock: Callable[[], float]) -> set[int]:
    """Wait until every queued id is held or no longer pending, or the deadline; the ids still pending.

    `held` gains each id that arrives."""
    while True:
        waiting = {k: [i for i in ids if i not in held] for k, ids in fetch.items()}
        if waiting := {k: ids for k, ids in waiting.items() if ids}:
            async with store.connect() as conn:
                # The pending set first: a job stores its entity and leaves the set in one commit, so
                # an id gone from the set by now is in the copy when the names are read after it.
                still = {(k, i) for k, ids in waiting.items() for i in await store.jobs.among(conn, k, ids)}
                arrived = await store.lookup.names(conn, [(k, i) for k, ids in waiting.items() for i in ids])
                held.update({i: k for k, i in arrived})
                pending = {i for k, i in still if (k, i) not in arrived}
        else:
            pending = set()
        if not pending or clock() >= deadline:
            return pending
        await asyncio.sleep(min(poll_s, max(0.0, deadline - clock())))


async def _records(store: Store, held: dict[int, Kind]) -> dict[int, Row]:
    """What the copy holds of each id: name, ticker, and its corporation and alliance with theirs."""
    rows: dict[int, Row] = {}
    async with store.connect() as conn:
        for i, kind in held.items():
            read = {"alliance": store.lookup.alliance, "corporation": store.lookup.corporation,
                    "character": store.lookup.character}[kind]
            row = await read(conn, i)
            if row is not None:
                rows[i] = row
        links = await store.lookup.names(conn, [(k, r[f"{k}_id"]) for r in rows.values()
                                                for k in ("corporation", "alliance")
                                                if r.get(f"{k}_id") is not None])
    return {i: _shown(held[i], row, links) for i, row in rows.items()}


def _shown(kind: Kind, row: Row, links: dict[tuple[Kind, int], Row]) -> Row:
    """An entity as the lookup answers it: name, ticker, and its corporation and alliance by name."""
    shown: Row = {"name": row["name"], "ticker": row.get("ticker")}
    for link in ("corporation", "alliance"):
        if link == kind or f"{link}_id" not in row:
            continue
        link_id = row[f"{link}_id"]
        known = links.get((link, link_id), {}) if link_id is not None else {}
        shown[link] = None if link_id is None else {"id": link_id, "name": known.get("name"),
                                                    "ticker": known.get("ticker")}
    if kind == "character":
        shown["deleted"] = row.get("deleted_seen_at") is not None
    return shown


def _answer(entity_id: int, c: Classified, held: dict[int, Kind], records: dict[int, Row],
            pending: set[int]) -> Answer:
    """One id's answer from what the lookup found."""
    if entity_id in records:
        return Answer(entity_id, "held", held[entity_id], None, records[entity_id])
    if c.status is not None:
        return Answer(entity_id, c.status, c.kind, c.reason)
    status: Status = "pending" if entity_id in pending else "unknown"
    return Answer(entity_id, status, c.kind, _REASONS[status])
