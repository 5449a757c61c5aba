"""What a refresh policy costs at a given population: requests per hour by route, and the freshness it keeps.

A pure model of the scheduler's rules (scheduler/refresh.py, scheduler/sweep.py, store/schedule.py's
due rule) in steady state, once every entity has been spread over its period:

    POST /characters/affiliation   every stored, living character once per sweep, 1,000 a call
    GET /characters/{id}           each living character once per its detail age, plus those a sweep
                                   or a kill shows moving, plus the new ones kills name
    GET /corporations/{id}         alliance members and those seen on a kill within the kill window
                                   once per the active age; every other corporation once per the
                                   dormant age
    GET /alliances/{id}, its /corporations   every open alliance once per its age
    GET /alliances                 once per the alliance age
    the two history routes         once per move that changes them, and once per new entity

Nothing here is measured: the population and its movement are inputs, with defaults written down
beside them (`Population`), so a reader can put in other numbers and see what they cost. Kills come
from R2Z2, not ESI, and cost no ESI request here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from killreport.domain.routes import ALLIANCE_HISTORY, CORPORATION_HISTORY

HOUR_S: Final = 3600.0
DAY_S: Final = 86400.0
# ESI answers at most this many ids per POST /characters/affiliation.
AFFILIATION_BATCH: Final = 1000

AFFILIATION: Final = "/characters/affiliation"
CHARACTER: Final = "/characters/{id}"
CORPORATION: Final = "/corporations/{id}"
ALLIANCE: Final = "/alliances/{id}"
ALLIANCE_MEMBERS: Final = "/alliances/{id}/corporations"
ALLIANCE_LIST: Final = "/alliances"


@dataclass(frozen=True, slots=True)
class Population:
    """The copy's size and how it moves. Defaults: ESI reference "Real-world scale" where it gives a
    number (characters, corporations, alliances, member corporations, kills a day, participants a
    kill); the rest are stated assumptions, marked so."""

    characters: int = 20_800_000          # character records (the census; ~18M not deleted)
    corporations: int = 979_000           # ever created (the census)
    alliances: int = 3_550                # open alliances (December 2025)
    member_corporations: int = 17_800     # corporations in those alliances
    kills_per_day: float = 15_000.0       # the reference's "now"
    participants_per_kill: float = 10.0   # the reference
    # Assumption: the share of corporations outside alliances seen on a kill within the kill window
    # (a week by default): ~19,600 of 979,000. Pilots of NPC corporations name no player corporation.
    kill_corporation_share: float = 0.02
    # Assumption: characters a day that change corporation or alliance (a sweep sees each once).
    character_moves_per_day: float = 50_000.0
    # Assumption: of a day's participants, the share naming a character the copy does not hold yet.
    new_pilot_share: float = 0.01
    # Assumption: corporations a day that join or leave an alliance (their alliance history is wanted).
    corporation_moves_per_day: float = 500.0


@dataclass(frozen=True, slots=True)
class Policy:
    """The refresh rhythms in seconds (config.py's REFRESH_* settings; these defaults are theirs)."""

    affiliation_s: float = HOUR_S              # REFRESH_MIN_AGE_AFFILIATION
    character_s: float = 30 * DAY_S            # REFRESH_MIN_AGE_CHARACTER
    corporation_s: float = HOUR_S              # REFRESH_MIN_AGE_CORPORATION
    corporation_dormant_s: float = 7 * DAY_S   # REFRESH_MIN_AGE_CORPORATION_DORMANT
    kill_window_s: float = 7 * DAY_S           # REFRESH_KILL_WINDOW_S
    alliance_s: float = HOUR_S                 # REFRESH_MIN_AGE_ALLIANCE
    history: bool = True                       # HISTORY


def active_corporations(population: Population) -> float:
    """Corporations kept on the active age: alliance members and the others seen on a kill lately."""
    outside = max(population.corporations - population.member_corporations, 0)
    return population.member_corporations + population.kill_corporation_share * outside


def requests_per_hour(population: Population, policy: Policy = Policy()) -> dict[str, float]:
    """The policy's average requests per hour by route template at `population`, in steady state."""
    p = population
    per_hour = {
        AFFILIATION: p.characters / AFFILIATION_BATCH * HOUR_S / policy.affiliation_s,
        CHARACTER: p.characters * HOUR_S / policy.character_s + _moved_or_new(p),
        CORPORATION: _corporations(p, policy),
        ALLIANCE: p.alliances * HOUR_S / policy.alliance_s,
        ALLIANCE_MEMBERS: p.alliances * HOUR_S / policy.alliance_s,
        ALLIANCE_LIST: HOUR_S / policy.alliance_s,
    }
    if policy.history:
        per_hour[CORPORATION_HISTORY] = _moved_or_new(p)
        per_hour[ALLIANCE_HISTORY] = p.corporation_moves_per_day * HOUR_S / DAY_S
    return per_hour


def _moved_or_new(p: Population) -> float:
    """Characters an hour fetched again because they moved, or fetched first because a kill named them."""
    new = p.kills_per_day * p.participants_per_kill * p.new_pilot_share
    return (p.character_moves_per_day + new) * HOUR_S / DAY_S


def _corporations(p: Population, policy: Policy) -> float:
    active = active_corporations(p)
    dormant = max(p.corporations - active, 0.0)
    return active * HOUR_S / policy.corporation_s + dormant * HOUR_S / policy.corporation_dormant_s


def per_second(per_hour: dict[str, float]) -> float:
    """The average requests a second of a `requests_per_hour` answer."""
    return sum(per_hour.values()) / HOUR_S


@dataclass(frozen=True, slots=True)
class Freshness:
    """The oldest each part of the copy gets under a policy, in seconds (past ESI's own Expires)."""

    affiliation_s: float        # a character's corporation and alliance
    character_s: float          # a character's other details (name, title, security status...)
    active_corporation_s: float  # alliance members and corporations seen on a kill in the window
    dormant_corporation_s: float
    alliance_s: float           # an alliance and its member list


def freshness(policy: Policy = Policy()) -> Freshness:
    """How stale each part of the copy may grow under `policy`, once spread (a sweep takes its period)."""
    return Freshness(affiliation_s=policy.affiliation_s, character_s=policy.character_s,
                     active_corporation_s=policy.corporation_s,
                     dormant_corporation_s=policy.corporation_dormant_s, alliance_s=policy.alliance_s)
