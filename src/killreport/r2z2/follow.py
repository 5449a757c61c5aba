"""The follower's pure core: what to ask the feed next, and what each answer changes. No I/O, no clock.

Every number below `cursor` is stored or declared a hole; `done` holds the numbers above it already
stored (answered out of order), `misses` those that answered 404 (or an unreadable body) and are still
wanted. The rules:

- a number that answered 404 is asked again no sooner than `retry_404_s` later (the wait doubles with
  each 404, up to `retry_max_s`): a stale CDN answer turns into the file on a later ask;
- the head pointer lags the newest file, so numbers are walked one past the highest known to exist,
  until one answers 404;
- no number the head has passed is skipped: it is asked again until it is stored, or until it has
  answered 404 for `hole_after_s` while a later number exists, when it is declared a hole (recorded, to
  be filled later from the day files);
- a package that says it rewrote an earlier, stored number (`sequence_updated`) puts that number on
  `refresh`: it is asked again once for its new zkb (a 404 there is retried like any other, then dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Policy:
    """Every number the rules use, in seconds unless said."""

    retry_404_s: float = 6.0
    retry_max_s: float = 60.0
    hole_after_s: float = 120.0
    head_every_s: float = 6.0
    window: int = 1000  # numbers asked ahead of the cursor at most: bounds memory and wasted asks
    # Recorded holes are asked again this often, this many at a time (a CDN may have kept a file from
    # us for longer than hole_after_s; the rest are the back-fill's, from the day files).
    holes_every_s: float = 600.0
    holes_per_round: int = 20


@dataclass(frozen=True, slots=True)
class Miss:
    """A number's 404s so far: when the first and the last came, and how many."""

    first_at: float
    last_at: float
    count: int

    def due(self, policy: Policy) -> float:
        """When the number may be asked again."""
        growing = policy.retry_404_s * 2.0 ** min(self.count - 1, 30)
        return self.last_at + min(growing, policy.retry_max_s)


@dataclass(frozen=True, slots=True)
class FeedState:
    """Where the follower is; replaced, never changed."""

    cursor: int
    head: int
    head_read_at: float | None = None
    done: frozenset[int] = frozenset()
    misses: Mapping[int, Miss] = field(default_factory=dict)
    refresh: Mapping[int, Miss | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AskHead:
    """Read the head pointer."""


@dataclass(frozen=True, slots=True)
class Ask:
    """Ask for one file."""

    number: int


@dataclass(frozen=True, slots=True)
class DeclareHole:
    """Record `number` as a hole: it will not come from the feed."""

    number: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do before `until`."""

    until: float


Step = AskHead | Ask | DeclareHole | Wait


def starting_at(cursor: int) -> FeedState:
    """The state of a follower whose next number to store is `cursor`."""
    return FeedState(cursor=cursor, head=cursor - 1)


def next_step(state: FeedState, now: float, policy: Policy) -> Step:
    """What to do now: declare a hole, ask a file, read the head, or wait."""
    hole = _hole(state, policy)
    if hole is not None:
        return DeclareHole(hole)
    ready = [n for n, at in _candidates(state, policy) if at <= now]
    if ready:
        return Ask(min(ready))
    head_due = now if state.head_read_at is None else state.head_read_at + policy.head_every_s
    if head_due <= now:
        return AskHead()
    return Wait(min([head_due, *(at for _, at in _candidates(state, policy))]))


def _hole(state: FeedState, policy: Policy) -> int | None:
    holes = [n for n, miss in state.misses.items()
             if n < state.head and miss.count >= 2 and miss.last_at - miss.first_at >= policy.hole_after_s]
    return min(holes, default=None)


def _candidates(state: FeedState, policy: Policy) -> list[tuple[int, float]]:
    """Every number that may be asked, with when: due 404s, refreshes, and the first never asked."""
    limit = state.cursor + policy.window
    out = [(n, miss.due(policy)) for n, miss in state.misses.items() if n < limit]
    out += [(n, float("-inf") if miss is None else miss.due(policy)) for n, miss in state.refresh.items()]
    fresh = _first_unasked(state)
    if fresh <= min(state.head + 1, limit - 1):
        out.append((fresh, float("-inf")))
    return out


def _first_unasked(state: FeedState) -> int:
    number = state.cursor
    while number in state.done or number in state.misses:
        number += 1
    return number


def is_refresh(state: FeedState, number: int) -> bool:
    """Whether asking `number` now is for the new zkb of a stored kill."""
    return number in state.refresh


def _stored(state: FeedState, number: int) -> bool:
    return number < state.cursor or number in state.done


def head_seen(state: FeedState, pointer: int, now: float) -> FeedState:
    """The head pointer read `pointer` at `now` (it never moves the head back)."""
    return replace(state, head=max(state.head, pointer), head_read_at=now)


def found(state: FeedState, number: int, rewrote: int | None) -> FeedState:
    """`number` answered with a package (stored, or kept aside); `rewrote` is its `sequence_updated`."""
    if is_refresh(state, number):
        return replace(state, refresh=_without(state.refresh, number))
    if _stored(state, number):
        return state
    cursor, done = _advanced(state.cursor, state.done | {number})
    after = replace(state, cursor=cursor, done=done, head=max(state.head, number),
                    misses=_without(state.misses, number))
    if rewrote is not None and rewrote != number and _stored(after, rewrote):
        return replace(after, refresh={**after.refresh, rewrote: None})
    return after


def missed(state: FeedState, number: int, now: float, policy: Policy) -> FeedState:
    """`number` answered 404 (or a body that cannot be read) at `now`."""
    if is_refresh(state, number):
        miss = _again(state.refresh[number], now)
        if now - miss.first_at >= policy.hole_after_s:  # the new zkb is lost; the stored one stays
            return replace(state, refresh=_without(state.refresh, number))
        return replace(state, refresh={**state.refresh, number: miss})
    if _stored(state, number):
        return state
    return replace(state, misses={**state.misses, number: _again(state.misses.get(number), now)})


def hole_declared(state: FeedState, number: int) -> FeedState:
    """`number` was recorded as a hole: the cursor may pass it."""
    cursor, done = _advanced(state.cursor, state.done | {number})
    return replace(state, cursor=cursor, done=done, misses=_without(state.misses, number))


def _again(miss: Miss | None, now: float) -> Miss:
    return Miss(now, now, 1) if miss is None else Miss(miss.first_at, now, miss.count + 1)


def _advanced(cursor: int, done: frozenset[int]) -> tuple[int, frozenset[int]]:
    """The cursor moved over every contiguous number in `done`, and what is left of `done`."""
    start = cursor
    while cursor in done:
        cursor += 1
    return cursor, (done - frozenset(range(start, cursor))) if cursor > start else done


def _without(mapping: Mapping[int, V], key: int) -> dict[int, V]:
    return {k: v for k, v in mapping.items() if k != key}
