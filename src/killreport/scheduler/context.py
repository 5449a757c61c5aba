"""What the active scheduler works with, passed in: the database, the queues, ESI and the settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pydantic import TypeAdapter

from killreport.config import Settings
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.refresh_cost import Policy
from killreport.domain.schedule import Rhythm
from killreport.ids import Kind
from killreport.queue.broker import JobQueue
from killreport.scheduler.rules import AffiliationAnswer
from killreport.store.interface import Store

T = TypeVar("T")


class SchedulerEsi(Protocol):
    """The two ESI calls the scheduler makes (EsiClient has both)."""

    async def get(self, path: str, model: TypeAdapter[T] | type[T],
                  etag: str | None = None) -> Fetched[T] | NotModified:
        """GET `path`, conditionally with `etag` (the alliance list)."""

    async def affiliations(self, character_ids: Sequence[int]) -> Fetched[Sequence[AffiliationAnswer]]:
        """POST /characters/affiliation for 1..1000 ids."""


@dataclass(frozen=True, slots=True)
class Scheduling:
    """The active scheduler's collaborators."""

    store: Store
    broker: JobQueue
    esi: SchedulerEsi
    settings: Settings

    def rhythm(self, kind: Kind) -> Rhythm:
        """The kind's rhythm: its ages, and for corporations the dormant age and the kill window."""
        return rhythm(self.settings, kind)


def rhythm(settings: Settings, kind: Kind) -> Rhythm:
    """The REFRESH_* settings of one kind, as the due rule takes them."""
    s = settings
    if kind == "corporation":
        return Rhythm(s.refresh_min_age_corporation, s.refresh_min_age_corporation_dormant,
                      s.refresh_kill_window_s, s.refresh_failed_after_s)
    age = s.refresh_min_age_alliance if kind == "alliance" else s.refresh_min_age_character
    return Rhythm(age, failed_after_s=s.refresh_failed_after_s)


def policy(settings: Settings) -> Policy:
    """The REFRESH_* settings as the cost model takes them (domain/refresh_cost.py)."""
    s = settings
    return Policy(affiliation_s=s.refresh_min_age_affiliation, character_s=s.refresh_min_age_character,
                  corporation_s=s.refresh_min_age_corporation,
                  corporation_dormant_s=s.refresh_min_age_corporation_dormant,
                  kill_window_s=s.refresh_kill_window_s, alliance_s=s.refresh_min_age_alliance,
                  history=s.history)
