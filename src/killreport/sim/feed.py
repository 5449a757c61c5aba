"""The published log of kills as R2Z2 serves it: sequence numbers, the lagging pointer, republication, days.

Driven by the clock rather than a task: whoever reads the feed first catches the timed generator up
(`catch_up`), so a fake clock moves it exactly and a test needs no sleeping.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any, Final

from killreport.sim.kills import Everyone, new_kill, revised
from killreport.sim.limits import Clock
from killreport.sim.options import SimOptions

FIRST_SEQUENCE: Final = 1_000_000
_DAY_S: Final = 86400


@dataclass(slots=True)
class Package:
    """One file under `ephemeral/`: a kill, when it was (re)written and the number it republished."""

    sequence_id: int
    killmail_id: int
    hash: str
    esi: dict[str, Any]
    zkb: dict[str, Any]
    uploaded_at: int
    killmail_time: int
    sequence_updated: int | None = None
    stale_until: float = 0.0
    broken: bool = False  # the file's killmail fails CCP's schema (no victim); the kill itself is fine

    def document(self) -> dict[str, Any]:
        """The file's JSON."""
        esi = {k: v for k, v in self.esi.items() if k != "victim"} if self.broken else self.esi
        out = {"killmail_id": self.killmail_id, "hash": self.hash, "esi": esi, "zkb": self.zkb,
               "uploaded_at": self.uploaded_at, "sequence_id": self.sequence_id}
        if self.sequence_updated is not None:
            out["sequence_updated"] = self.sequence_updated
        return out


def day_of(ts: float) -> str:
    """`YYYYMMDD` of the UTC day holding `ts`."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y%m%d")


class KillFeed:
    """Every kill published so far, by sequence and by killmail id, and the day each was killed on."""

    def __init__(self, options: SimOptions, clock: Clock, everyone: Everyone) -> None:
        self.options = options
        self.clock = clock
        self.everyone = everyone
        self.started = clock()
        self.packages: dict[int, Package] = {}
        self.by_killmail: dict[int, int] = {}
        self.days: dict[str, dict[int, int]] = {}  # day → killmail id → sequence
        self.head = FIRST_SEQUENCE - 1
        self.pointer = FIRST_SEQUENCE
        self._timed = 0

    def catch_up(self) -> None:
        """Publish what the timed generator owes by now (`kill_rate` a second, in bursts of `kill_burst`)."""
        rate, burst = self.options.kill_rate, self.options.kill_burst
        if rate <= 0:
            return
        due = int((self.clock() - self.started) * rate) // burst * burst
        while self._timed < due:
            at = self.started + (self._timed // burst + 1) * burst / rate
            self.publish(1, int(at))
            self._timed += 1

    def publish(self, count: int, at: int | None = None, late: bool | None = None,
                broken: bool = False) -> list[Package]:
        """Publish `count` new kills at `at` (default now); `late` forces or forbids a late posting;
        `broken`: their files' killmails fail CCP's schema (the day files and ESI have them whole)."""
        when = int(self.clock()) if at is None else at
        published = [self._publish_one(when, late) for _ in range(count)]
        for package in published:
            package.broken = broken
        return published

    def _publish_one(self, when: int, late: bool | None) -> Package:
        opts = self.options
        seq = self.head + 1
        kill = new_kill(opts.seed, seq, when, late, opts.kill_late_share, self.everyone)
        rng = random.Random(opts.seed * 1_000_000_009 + seq)  # apart from the kill's own draws
        package = Package(seq, kill.killmail_id, kill.hash, kill.esi, kill.zkb, when, kill.killmail_time)
        if rng.random() < opts.kill_republish_share:
            package.sequence_updated = self._republish(rng, when)
        if rng.random() < opts.r2z2_stale_share:
            package.stale_until = when + opts.r2z2_stale_s
        self.packages[seq] = package
        self.by_killmail[kill.killmail_id] = seq
        self.days.setdefault(day_of(kill.killmail_time), {})[kill.killmail_id] = seq
        self.head = seq
        if (seq - FIRST_SEQUENCE + 1) % opts.r2z2_sequence_every == 0:
            self.pointer = seq
        return package

    def _republish(self, rng: random.Random, when: int) -> int | None:
        """Rewrite an earlier, still kept file with a revised `zkb`; its number, or None if none is kept."""
        if self.head < FIRST_SEQUENCE:
            return None
        old = self.packages[rng.randint(max(FIRST_SEQUENCE, self.head - 500), self.head)]
        if when - old.uploaded_at >= self.options.r2z2_retention_s:
            return None
        old.zkb, old.uploaded_at = revised(rng, old.zkb), when
        return old.sequence_id

    def served(self, seq: int) -> Package | None:
        """The file `ephemeral/{seq}.json` if it is published, not expired and not stale now."""
        package = self.packages.get(seq)
        now = self.clock()
        if package is None or now - package.uploaded_at >= self.options.r2z2_retention_s:
            return None
        return None if now < package.stale_until else package

    def day(self, day: str, raw: bool) -> dict[str, Any] | None:
        """`history/{day}.json` (or its raw form), or None before the day is over or if it had no kill."""
        kills = self.days.get(day)
        if kills is None or not self._day_shown(day):
            return None
        packages = [self.packages[kills[k]] for k in sorted(kills)]
        return {str(p.killmail_id): p.esi if raw else p.hash for p in packages}

    def totals(self) -> dict[str, int]:
        """`history/totals.json`: kills per shown day."""
        return {day: len(kills) for day, kills in sorted(self.days.items()) if self._day_shown(day)}

    def _day_shown(self, day: str) -> bool:
        today = day_of(self.clock())
        return day < today or (day == today and self.options.r2z2_today)

    def truth(self, since: int | None = None) -> dict[str, Any]:
        """Every published kill (`since`: from that sequence on), whatever R2Z2 would serve of it now."""
        first = FIRST_SEQUENCE if since is None else max(since, FIRST_SEQUENCE)
        return {"first_sequence": FIRST_SEQUENCE, "head": self.head, "sequence": self.pointer,
                "kills": [self.packages[s].document() for s in range(first, self.head + 1)]}
