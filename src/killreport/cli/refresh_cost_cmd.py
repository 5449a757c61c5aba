"""`killreport refresh-cost`: what the configured refresh policy asks of ESI at a given population."""

from __future__ import annotations

from killreport.domain.refresh_cost import Freshness, Population, freshness, per_second, requests_per_hour
from killreport.scheduler.context import policy
from killreport.wiring import load_settings

_DEFAULT = Population()


def refresh_cost(*, characters: int = _DEFAULT.characters, corporations: int = _DEFAULT.corporations,
                 alliances: int = _DEFAULT.alliances, member_corporations: int = _DEFAULT.member_corporations,
                 kills_per_day: float = _DEFAULT.kills_per_day,
                 kill_corporation_share: float = _DEFAULT.kill_corporation_share,
                 character_moves_per_day: float = _DEFAULT.character_moves_per_day) -> int:
    """Requests per hour by route, and the freshness kept, under the REFRESH_* settings at this size.

    Defaults: the whole of EVE (docs/refresh-policy.md says where each number comes from). Nothing
    is asked of the database or ESI: it is the scheduler's rules, counted.
    """
    population = Population(characters=characters, corporations=corporations, alliances=alliances,
                            member_corporations=member_corporations, kills_per_day=kills_per_day,
                            kill_corporation_share=kill_corporation_share,
                            character_moves_per_day=character_moves_per_day)
    chosen = policy(load_settings())
    print("\n".join(cost_lines(requests_per_hour(population, chosen), freshness(chosen))))
    return 0


def cost_lines(per_hour: dict[str, float], kept: Freshness) -> list[str]:
    """The table `refresh-cost` prints: a line per route, the total, then the freshness kept."""
    width = max(len(route) for route in per_hour)
    lines = [f"{'route':<{width}}  {'per hour':>10}  {'per second':>10}"]
    lines += [f"{route:<{width}}  {n:>10,.0f}  {n / 3600:>10.2f}" for route, n in per_hour.items()]
    total = sum(per_hour.values())
    lines += [f"{'total':<{width}}  {total:>10,.0f}  {per_second(per_hour):>10.2f}", "", "freshness kept:"]
    lines += [f"  {label}: within {_span(seconds)}" for label, seconds in (
        ("a character's corporation and alliance", kept.affiliation_s),
        ("a character's other details", kept.character_s),
        ("alliance members and corporations seen on a kill lately", kept.active_corporation_s),
        ("every other corporation", kept.dormant_corporation_s),
        ("alliances and their member lists", kept.alliance_s))]
    return lines


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:g} s"
