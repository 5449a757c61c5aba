"""The metrics server: /healthz, /readyz (ok, and failing on an unreachable database), /metrics, and
the Grafana dashboard queries only metrics a process exports; a worker's counters move after a sync."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from killreport.budget.memory import MemoryBudget
from killreport.config import Settings, sqlalchemy_url
from killreport.domain.budget_rules import Limits
from killreport.metrics.expose import Exposition
from killreport.metrics.names import make_metrics
from killreport.metrics.server import metrics_app, serving
from killreport.queue.stub import StubBroker
from killreport.sim.testing import running_sim
from killreport.wiring import broker, esi_client
from tests.cluster import cli, env_for, workers
from tests.integration.test_scheduler_processes import killreport
from tests.rules import NO_DOWNTIME
from tests.stores import as_store

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]
# An id in a label would be a new series per entity: five digits or more never belong there.
_ID = re.compile(r"\d{5,}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def _exposed(pg_url: str, rabbit_url: str,
                   engine: AsyncEngine) -> AsyncIterator[tuple[str, Exposition]]:
    """A metrics app in this process, attached to real services, on a free 127.0.0.1 port."""
    settings = Settings(database_url=pg_url, rabbitmq_url=rabbit_url, esi_base_url="http://127.0.0.1:9",
                        esi_contact="tests@killreport.invalid", metrics_refresh_s=0.2)
    registry = CollectorRegistry()
    exposition = Exposition(make_metrics(registry), settings.metrics_refresh_s)
    async with broker(settings) as mq, esi_client(settings) as esi, \
            serving(metrics_app(registry, exposition.checks), "127.0.0.1", 0) as port:
        exposition.attach(as_store(engine), mq, esi.budget, freshness=True)
        try:
            yield f"http://127.0.0.1:{port}", exposition
        finally:
            await exposition.close()


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def _exported(text: str) -> set[str]:
    """Every metric family and sample name a scrape declares (a labelled gauge may have no sample yet)."""
    return {name for family in text_string_to_metric_families(text)
            for name in (family.name, *(sample.name for sample in family.samples))}


def _series(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample name in a scrape with its labels and values."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def _dashboard_metrics() -> set[str]:
    """The metric names every PromQL expression of the dashboard queries (each parsed, not grepped)."""
    dashboard = json.loads((ROOT / "deploy/grafana/killreport.json").read_text())
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            names |= _promql_metrics(target["expr"])
    return names


_TOKEN = re.compile(r'\s+|"(?:[^"\\]|\\.)*"|\[[^\]]*\]|[0-9.e+-]+(?![a-z_])|[A-Za-z_:][A-Za-z0-9_:]*|'
                    r'==|!=|=~|!~|>=|<=|[(){},=<>/*+-]')
_KEYWORDS = {"sum", "min", "max", "avg", "count", "by", "without", "rate", "increase", "irate", "bool",
             "histogram_quantile", "clamp_min", "vector", "time", "or", "and", "unless", "on", "le"}


def _promql_metrics(expr: str) -> set[str]:
    """The metric selectors of one expression; fails on text it cannot tokenize or unbalanced brackets."""
    tokens, at = [], 0
    while at < len(expr):
        match = _TOKEN.match(expr, at)
        assert match, f"cannot parse PromQL at {expr[at:]!r}"
        if not match.group().isspace():
            tokens.append(match.group())
        at = match.end()
    names: set[str] = set()
    depth, in_labels, grouping = 0, False, 0  # grouping: 1 after by/without, 2 inside its list
    for n, token in enumerate(tokens):
        depth += {"(": 1, ")": -1}.get(token, 0)
        assert depth >= 0, f"unbalanced parentheses in {expr!r}"
        in_labels = token == "{" or (in_labels and token != "}")
        grouping = 1 if token in ("by", "without") else 2 if grouping and token == "(" else \
            0 if token == ")" else grouping
        following = tokens[n + 1] if n + 1 < len(tokens) else ""
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", token) and token not in _KEYWORDS \
                and not in_labels and not grouping and following != "(":
            names.add(token)
    assert depth == 0, f"unbalanced parentheses in {expr!r}"
    return names


async def test_a_worker_refreshes_the_budget_gauges_but_leaves_freshness_to_the_scheduler(
        engine: AsyncEngine) -> None:
    registry = CollectorRegistry()
    exposition = Exposition(make_metrics(registry), every_s=0.05)
    budget = MemoryBudget(Limits(), rules=NO_DOWNTIME)
    mq = StubBroker()
    exposition.attach(as_store(engine), mq, budget)  # as worker/main.py attaches
    await asyncio.sleep(0.3)
    worker_only = _series(generate_latest(registry).decode())
    exposition.attach(as_store(engine), mq, budget, freshness=True)  # `run`'s scheduler part
    await asyncio.sleep(0.3)
    both = _series(generate_latest(registry).decode())
    await exposition.close()
    assert worker_only["killreport_esi_in_flight"] == [({}, 0.0)]
    assert "killreport_entities_stored" not in worker_only
    assert set(exposition.refreshing) == {"budget", "freshness"}
    assert both["killreport_esi_error_limit_remaining"]


async def test_healthz_readyz_and_every_dashboard_metric_is_exported(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    async with _exposed(fresh_pg_url, fresh_rabbit_url, engine) as (url, exposition):
        exposition.metrics.observe_request("/alliances/{alliance_id}/", 200, 0.01)
        exposition.metrics.observe_request("/alliances/{alliance_id}/", 420, 0.01)
        exposition.metrics.observe_request("/characters/{character_id}/", 429, 0.01)
        exposition.metrics.jobs("alliance", "stored")
        exposition.metrics.jobs("alliance", "retried")
        exposition.metrics.jobs("alliance", "dead_lettered")
        assert await _get(f"{url}/healthz") == (200, "ok\n")
        assert await _get(f"{url}/readyz") == (200, "ready\n")
        assert set(exposition.refreshing) == {"budget", "freshness"}
        await asyncio.sleep(0.5)  # one gauge refresh
        status, text = await _get(f"{url}/metrics")
        assert status == 200
    exported = _exported(text)
    queried = _dashboard_metrics()
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, f"the dashboard queries what no process exports: {queried - exported}"


async def test_readyz_fails_with_the_reason_when_the_database_is_unreachable(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    closed = _free_port()  # nothing listens there: a database that cannot be reached
    gone = create_async_engine(sqlalchemy_url(f"postgresql://root@127.0.0.1:{closed}/killreport"))
    try:
        async with _exposed(fresh_pg_url, fresh_rabbit_url, gone) as (url, _):
            status, text = await _get(f"{url}/readyz")
            assert (await _get(f"{url}/healthz"))[0] == 200
    finally:
        await gone.dispose()
    assert status == 503
    assert text.startswith("database:"), text


async def test_a_worker_exports_request_and_job_counters_that_move_without_ids(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    port = _free_port()
    async with running_sim(alliances=8, latency_ms=1) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, METRICS_PORT=str(port),
                      METRICS_REFRESH_S="0.5")
        async with workers(env, 1):
            before = await _scrape_when_up(f"http://127.0.0.1:{port}/metrics")
            done = await cli(env, "sync-all", "--wait", timeout_s=180)
            assert done.code == 0, done.err[-2000:]
            after = _series((await _get(f"http://127.0.0.1:{port}/metrics"))[1])
            assert (await _get(f"http://127.0.0.1:{port}/readyz"))[0] == 200
    assert _total(after, "killreport_esi_requests_total") > _total(before, "killreport_esi_requests_total")
    assert _total(after, "killreport_jobs_total") > _total(before, "killreport_jobs_total")
    outcomes = {labels["outcome"] for labels, _ in after["killreport_jobs_total"]}
    assert "stored" in outcomes
    assert _total(after, "killreport_esi_request_duration_seconds_count") > 0
    for name, samples in after.items():
        for labels, _ in samples:
            assert not any(_ID.search(v) for v in labels.values()), f"an id in a label of {name}: {labels}"


async def _scrape_when_up(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The first scrape of a process that is still starting."""
    for _ in range(200):
        try:
            return _series((await _get(url))[1])
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nothing serves {url}")


def _total(series: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(value for _, value in series.get(name, []))


async def test_killreport_run_serves_one_set_for_its_scheduler_and_worker(
        engine: AsyncEngine, fresh_pg_url: str, fresh_rabbit_url: str) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_sim(alliances=3, latency_ms=1) as sim:
        env = env_for(fresh_pg_url, fresh_rabbit_url, sim.base_url, METRICS_REFRESH_S="0.5")
        async with killreport(env, "run", "--metrics-port", str(port)):
            await _scrape_when_up(f"{base}/metrics")
            for _ in range(300):  # the scheduler asks for the alliance list; the worker follows
                scraped = _series((await _get(f"{base}/metrics"))[1])
                stored = _total(scraped, "killreport_entities_stored")
                if _total(scraped, "killreport_jobs_total") and stored:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("run's metrics never showed a job and a stored entity")
            assert (await _get(f"{base}/readyz")) == (200, "ready\n")
    assert _total(scraped, "killreport_esi_requests_total") > 0
