"""The generated universe's past: every corporation's alliance history and every character's corporation
history, drawn after the present is built, then numbered.

The generator leaves a skeleton in each history: a corporation's founding (outside any alliance) and,
for members, when it joined its alliance; a character's birth in a starter corporation and when it joined
the corporation it sits in (or sat in, for a deleted one). This module keeps what of it is plausible and
draws the rest: a few earlier stints (in corporations or alliances that existed then, closed ones
included, so `is_deleted` rows occur), gaps outside any alliance, a corporation's closing, and the move of
a character who left its corporation since. It never dates a record before the birth or founding of the
entity it belongs to or of the one it names, nor after `end`. A deleted character gets no record for its
move to a starter corporation: ESI's histories do not record the move to Doomheim.

Record ids are handed out last, in order of start date over the whole universe (ESI's are one
increasing sequence), so within a history they increase with time and order records of the same second.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Collection, Sequence

from killreport.sim.model import Character, Corporation, Universe, epoch

# (start date in epoch seconds, id or None), oldest first: a history before its records are numbered.
Stint = tuple[int, int | None]


class _Book:
    """When every player corporation and alliance was founded, sorted, to pick one that existed then."""

    def __init__(self, uni: Universe) -> None:
        # A player corporation's founding is the first row of its skeleton.
        corps = [(c.alliance_history[0][1], c.id) for c in uni.corporations.values()
                 if not c.npc and c.alliance_history]
        self.corporations = sorted(corps)
        self.alliances = sorted((epoch(a.date_founded), a.id) for a in uni.alliances.values())
        self.founded = dict((eid, ts) for ts, eid in self.corporations + self.alliances)

    @staticmethod
    def existing(rng: random.Random, pool: Sequence[tuple[int, int]], when: int,
                 other_than: Collection[int | None], gone: dict[int, int]) -> int | None:
        """One of `pool` founded by `when` and not closed by then (none of `other_than`), or None."""
        count = bisect.bisect_right(pool, (when, 2**63))
        for _ in range(3):
            if not count:
                return None
            eid = pool[rng.randrange(count)][1]
            if eid not in other_than and gone.get(eid, 2**63) > when:
                return eid
        return None


def _between(rng: random.Random, lo: int, hi: int) -> int:
    return lo if hi <= lo else rng.randrange(lo, hi + 1)


def _earlier(rng: random.Random, lo: int, hi: int, most: int) -> list[int]:
    """Up to `most` sorted moments strictly inside (lo, hi), often none."""
    count = rng.choice(range(most + 1)) if rng.random() < 0.6 else 0
    return sorted(rng.randrange(lo + 1, hi) for _ in range(count)) if hi - lo > 2 else []


def corporation_past(rng: random.Random, book: _Book, corp: Corporation, end: int,
                     closed_at: dict[int, int], last_born: dict[int, int]) -> list[Stint]:
    """A corporation's alliance history: founded outside any, earlier stints, now; closing ends any stint.

    A closed one closed after the birth of every character that joined it (`last_born`).
    """
    founded = corp.alliance_history[0][1]
    hi = end
    if corp.closed:
        hi = closed_at[corp.id] = _between(rng, max(founded, last_born.get(corp.id, founded)), end)
    now = corp.alliance_id
    joined = hi
    if now is not None:
        lo = max(founded, book.founded.get(now, founded))
        given = corp.alliance_history[-1][1]
        joined = given if lo <= given <= hi else _between(rng, lo, hi)
    rows: list[Stint] = [(founded, None)]
    for when in _earlier(rng, founded, joined, 2):
        previous = rows[-1][1]
        alliance = book.existing(rng, book.alliances, when, (previous, now), {})
        if alliance is not None:
            rows.append((when, alliance))
        elif previous is not None:
            rows.append((when, None))
    if now is not None:
        rows.append((joined, now))
    elif rows[-1][1] is not None:
        # Out of its last alliance: when it closed, or some time since.
        rows.append((hi if corp.closed else _between(rng, rows[-1][0], end), None))
    return rows


def character_past(rng: random.Random, book: _Book, char: Character, end: int,
                   closed_at: dict[int, int]) -> list[Stint]:
    """A character's corporation history: born in a starter corporation, earlier employers, its own."""
    born, starter = char.corp_history[0][1], char.corp_history[0][2]
    home = char.corp_history[-1][2]
    rows: list[Stint] = [(born, starter)]
    if home != starter and home is not None:
        hi = closed_at.get(home, end)
        lo = min(max(born, book.founded.get(home, born)), hi)
        given = char.corp_history[-1][1]
        joined = given if lo <= given <= hi else _between(rng, lo, hi)
        for when in _earlier(rng, born, joined, 3):
            corp = book.existing(rng, book.corporations, when, (rows[-1][1], home), closed_at)
            if corp is not None:
                rows.append((when, corp))
        rows.append((joined, home))
    if not char.deleted and char.corporation_id != rows[-1][1]:
        # It left since (its corporation closed, or it moved on); a deleted one's move is not recorded.
        left = closed_at.get(home or 0, 0)
        rows.append((left if left >= rows[-1][0] else _between(rng, rows[-1][0], end), char.corporation_id))
    return rows


def give_pasts(uni: Universe, rng: random.Random, end: int) -> None:
    """Draw every player corporation's and character's past, then number every record."""
    book = _Book(uni)
    closed_at: dict[int, int] = {}
    corporations = [c for _, c in sorted(uni.corporations.items()) if not c.npc and c.alliance_history]
    characters = [c for _, c in sorted(uni.characters.items()) if not c.npc and c.corp_history]
    last_born: dict[int, int] = {}
    for char in characters:
        home = char.corp_history[-1][2] or 0
        last_born[home] = max(last_born.get(home, 0), char.corp_history[0][1])
    corp_pasts = [corporation_past(rng, book, c, end, closed_at, last_born) for c in corporations]
    char_pasts = [character_past(rng, book, c, end, closed_at) for c in characters]
    pasts = corp_pasts + char_pasts
    numbers = _numbered(uni, pasts)
    for corp, past, ids in zip(corporations, corp_pasts, numbers[:len(corp_pasts)], strict=True):
        corp.alliance_history = [(rid, when, eid) for rid, (when, eid) in zip(ids, past, strict=True)]
    for char, past, ids in zip(characters, char_pasts, numbers[len(corp_pasts):], strict=True):
        char.corp_history = [(rid, when, eid) for rid, (when, eid) in zip(ids, past, strict=True)]


def _numbered(uni: Universe, pasts: list[list[Stint]]) -> list[list[int]]:
    """The record ids of every past's records, handed out in order of start date, then past and place.

    Each record's place is packed into one int (start, past, index) to sort: tuples and a dict for
    143,000 records cost tens of megabytes the simulator kept as resident memory afterwards.
    """
    keys = sorted(when << 48 | n << 16 | i
                  for n, past in enumerate(pasts) for i, (when, _) in enumerate(past))
    ids = [[0] * len(past) for past in pasts]
    for key in keys:
        ids[(key >> 16) & 0xFFFF_FFFF][key & 0xFFFF] = uni.new_record_id()
    return ids
