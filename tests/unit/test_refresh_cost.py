"""The refresh policy's cost model: the default policy's budget at the whole of EVE, and what each
input moves."""

from __future__ import annotations

import dataclasses

import pytest

from killreport.cli.main import run
from killreport.config import Settings
from killreport.domain.refresh_cost import (
    AFFILIATION,
    ALLIANCE,
    ALLIANCE_MEMBERS,
    CHARACTER,
    CORPORATION,
    DAY_S,
    HOUR_S,
    Policy,
    Population,
    active_corporations,
    freshness,
    per_second,
    requests_per_hour,
)
from killreport.domain.routes import ALLIANCE_HISTORY, CORPORATION_HISTORY
from killreport.scheduler.context import policy

WHOLE_OF_EVE = Population(characters=20_000_000, corporations=1_000_000)
DEFAULT = policy(Settings(_env_file=None))


def test_the_settings_defaults_are_the_model_s() -> None:
    assert Policy() == DEFAULT


def test_the_default_policy_averages_at_most_30_requests_a_second_at_the_whole_of_eve() -> None:
    per_hour = requests_per_hour(WHOLE_OF_EVE, DEFAULT)
    assert per_second(per_hour) <= 30.0, per_hour
    assert sum(per_hour.values()) <= 108_000
    # The census' own numbers (20.8 million records, 979,000 corporations) too.
    assert per_second(requests_per_hour(Population(), DEFAULT)) <= 30.0


def test_the_default_policy_keeps_the_freshness_asked_for() -> None:
    kept = freshness(DEFAULT)
    assert kept.affiliation_s <= HOUR_S          # every character's corporation and alliance
    assert kept.alliance_s <= HOUR_S             # alliances and their member lists
    assert kept.active_corporation_s <= HOUR_S   # alliance members (and corporations seen on kills)
    assert kept.dormant_corporation_s <= 7 * DAY_S
    assert kept.character_s <= 30 * DAY_S


def test_the_old_policy_was_hundreds_of_requests_a_second() -> None:
    # Every character daily, every corporation hourly: what issue 25 starts from (~500 a second).
    old = dataclasses.replace(DEFAULT, character_s=DAY_S, corporation_dormant_s=HOUR_S)
    assert per_second(requests_per_hour(Population(), old)) > 450


def test_each_route_counts_its_own_rhythm() -> None:
    p = Population(characters=2_000_000, corporations=100_000, alliances=1_000, member_corporations=10_000,
                   kill_corporation_share=0.1, character_moves_per_day=24_000, new_pilot_share=0.0,
                   corporation_moves_per_day=240)
    per_hour = requests_per_hour(p, DEFAULT)
    assert per_hour[AFFILIATION] == pytest.approx(2_000)                    # 1,000 ids a call, hourly
    assert per_hour[CHARACTER] == pytest.approx(2_000_000 / 720 + 1_000)   # 30 days, plus moves
    assert active_corporations(p) == pytest.approx(10_000 + 9_000)
    assert per_hour[CORPORATION] == pytest.approx(19_000 + 81_000 / 168)
    assert per_hour[ALLIANCE] == per_hour[ALLIANCE_MEMBERS] == pytest.approx(1_000)
    assert per_hour[CORPORATION_HISTORY] == pytest.approx(1_000)
    assert per_hour[ALLIANCE_HISTORY] == pytest.approx(10)


def test_more_kills_or_a_longer_window_cost_corporations_and_no_history_costs_no_history_route() -> None:
    base = requests_per_hour(WHOLE_OF_EVE, DEFAULT)
    busier = requests_per_hour(dataclasses.replace(WHOLE_OF_EVE, kill_corporation_share=0.1), DEFAULT)
    assert busier[CORPORATION] > base[CORPORATION] and busier[CHARACTER] == base[CHARACTER]
    slower = requests_per_hour(WHOLE_OF_EVE, dataclasses.replace(DEFAULT, character_s=60 * DAY_S))
    assert slower[CHARACTER] < base[CHARACTER]
    without = requests_per_hour(WHOLE_OF_EVE, dataclasses.replace(DEFAULT, history=False))
    assert CORPORATION_HISTORY not in without and ALLIANCE_HISTORY not in without


def test_refresh_cost_prints_the_table_of_the_configured_policy(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFRESH_MIN_AGE_CHARACTER", str(60 * DAY_S))
    assert run(["refresh-cost", "--characters", "20000000", "--corporations", "1000000"]) == 0
    out = capsys.readouterr().out
    slower = requests_per_hour(WHOLE_OF_EVE, dataclasses.replace(DEFAULT, character_s=60 * DAY_S))
    assert f"{slower[CHARACTER]:,.0f}" in out
    assert f"{per_second(slower):.2f}" in out.splitlines()[len(slower) + 1]
    assert "a character's other details: within 60 d" in out
