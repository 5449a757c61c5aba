"""bench/scale.py's synthetic copy is what a complete sync of the same simulator would store."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from killreport.sim.options import SimOptions
from killreport.sim.population import CHARACTER_BASE, CORPORATION_BASE
from killreport.sim.state import Sim
from killreport.sim.truth import truth
from tests.stores import engine_for
from tests.truth import diff_against_truth

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"
SEED, ALLIANCES, CHARS, CORPS = 5, 20, 3_000, 150


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
async def test_the_synthetic_copy_equals_the_simulators_truth(
    dialect: str, fresh_pg_url: str, tmp_path: Path
) -> None:
    url = fresh_pg_url if dialect == "postgresql" else f"sqlite:///{tmp_path / 'copy.sqlite'}"
    command = [sys.executable, str(BENCH), "--database-url", url, "--seed", str(SEED), "--alliances",
               str(ALLIANCES), "--characters", str(CHARS), "--corporations", str(CORPS), "--batch", "700"]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=300,
                                   check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    sim = Sim(SimOptions(seed=SEED, alliances=ALLIANCES, population_characters=CHARS,
                         population_corporations=CORPS))
    # The whole truth: the generated universe's, and the population's asked for by id.
    document = truth(sim.universe)
    lazy = sim.truth_of([CHARACTER_BASE + k for k in range(CHARS)],
                        [CORPORATION_BASE + j for j in range(CORPS)])
    document["characters"] |= lazy["characters"]
    document["corporations"] |= lazy["corporations"]
    document["deleted_characters"] += lazy["deleted_characters"]
    engine = engine_for(url)
    try:
        assert await diff_against_truth(engine, document) == []
    finally:
        await engine.dispose()
    assert report["rows"]["characters"] == len(document["characters"])
    assert report["rows"]["character_tombstones"] == len(document["deleted_characters"]) > 0
    assert report["rows"]["corporations"] == len(document["corporations"]) >= CORPS
    assert report["data_bytes"] > 0 and report["rows_per_s"] > 0
