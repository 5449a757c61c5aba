"""Fixtures: an in-process simulator on a free port and an HTTP session that speaks like a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from killreport.sim.testing import RunningSim, running_sim

# CCP's published schema subset (compatibility date 2026-08-18), kept in the repository so a clone
# anywhere is whole; refresh it from CCP's spec when the pinned date moves.
OPENAPI_SPEC = Path(__file__).resolve().parents[1] / "data" / "esi-openapi-subset.json"
CURRENT = {"X-Compatibility-Date": "2026-08-18", "User-Agent": "killreport-tests/0.1 (tests@example.com)"}


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    """A small universe with a short error window."""
    async with running_sim(alliances=30, error_window_s=2.0) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session; pass headers per request (CURRENT for the current schemas)."""
    async with aiohttp.ClientSession() as session:
        yield session
