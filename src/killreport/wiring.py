"""The composition root of every command: settings → store, broker, budget, ESI client, passed down.

The mode is chosen here, once, from DATABASE_URL:

    embedded      a SQLite file: the queue is its tables (TableQueue), and one runner (`run`, `worker`,
                  `scheduler`, or `sync-all --wait` doing the work itself) holds the file's runner
                  lock; only it talks to ESI, so the budget is in its memory (RunnerBudget)
    distributed   PostgreSQL + RabbitMQ: RabbitBroker, PgBudget, any number of workers
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError

from killreport.agent import user_agent
from killreport.budget.sqlite import RunnerBudget
from killreport.config import Settings, mask_url
from killreport.domain.budget import Budget
from killreport.domain.budget_rules import RULES, WITHOUT_DOWNTIME, CapGroup, Rules
from killreport.esi.client import EsiClient
from killreport.esi.counting import CountingTransport, Observer
from killreport.esi.transport import aiohttp_transport
from killreport.queue.broker import Broker, BrokerUnavailable
from killreport.queue.table import TableQueue
from killreport.runner_lock import RunnerLock
from killreport.services import ServiceUnavailable, holding, patiently
from killreport.store.budget_view import BudgetView
from killreport.store.interface import Store
from killreport.store.sqlite.engine import open_engine, path_of

if TYPE_CHECKING:
    from killreport.budget.pg import PgBudget
    from killreport.queue.rabbit import RabbitBroker

# The distributed mode's modules (aio-pika, asyncpg: ~80 ms) are imported in the functions that use
# them, so an embedded process never loads them (python -X importtime -m killreport status).


def load_settings() -> Settings:
    """Settings from the environment and `.env` (raises pydantic.ValidationError on bad values)."""
    return Settings()


async def _connect(settings: Settings, attempts: int) -> RabbitBroker:
    from killreport.queue.rabbit import RabbitBroker

    try:
        return await RabbitBroker.connect(settings.rabbitmq_url, settings.retry_delays_s,
                                          connect_attempts=attempts, connect_delay_s=0.5)
    except BrokerUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc


@asynccontextmanager
async def broker(settings: Settings, *, wait: bool = False,
                 max_delay_s: float = 30.0) -> AsyncIterator[Broker]:
    """The mode's broker: the SQLite file's tables, or RabbitMQ with every queue declared (waiting
    with backoff if `wait`)."""
    if settings.embedded:
        async with _table_queue(settings) as queue:
            with holding("broker"):
                yield queue
        return
    connected = await patiently(lambda: _connect(settings, 1 if wait else 2), wait=wait,
                                max_delay_s=max_delay_s)
    try:
        with holding("broker"):
            yield connected
    finally:
        await connected.close()


async def reading_broker(settings: Settings, store: Store) -> Broker:
    """The mode's broker for a reader (the web): the file's tables on `store`'s engine, or RabbitMQ
    without declaring anything (queues it finds missing are reported, never created), one try."""
    if settings.embedded:
        return TableQueue(store.engine, settings.retry_delays_s)
    from killreport.queue.rabbit import RabbitBroker

    return await RabbitBroker.connect(settings.rabbitmq_url, settings.retry_delays_s, declare=False,
                                      connect_attempts=1, connect_timeout_s=3.0)


@asynccontextmanager
async def _table_queue(settings: Settings) -> AsyncIterator[TableQueue]:
    engine = open_engine(settings.database_url, pool_size=2)  # one lent, one for the admin commands
    queue = TableQueue(engine, settings.retry_delays_s, lend=True)
    try:
        yield queue
    finally:
        await queue.close()
        await engine.dispose()


@contextmanager
def runner(settings: Settings, command: str) -> Iterator[None]:
    """Embedded: hold the file's runner lock while the block runs (RunnerLockHeld if another
    process holds it). Distributed: nothing to hold, any number of workers may run."""
    if not settings.embedded:
        yield
        return
    with runner_lock(settings, command):
        yield


def runner_lock(settings: Settings, command: str) -> RunnerLock:
    """The SQLite file's runner lock, taken (RunnerLockHeld if another process holds it;
    ServiceUnavailable if the lock file cannot be made)."""
    path = path_of(settings.database_url)
    try:
        return RunnerLock.acquire(path, command)
    except OSError as exc:
        raise ServiceUnavailable(f"the SQLite file {path} cannot be locked: {exc.strerror or exc}") from exc


@dataclass
class Esi:
    """The ESI client with the counters of what it sent."""

    client: EsiClient
    counter: CountingTransport
    budget: Budget


@asynccontextmanager
async def esi_client(settings: Settings, observe: Observer | None = None) -> AsyncIterator[Esi]:
    """An ESI client on the mode's shared budget (refuses the real ESI without a contact).

    `observe` is told of every request (route template, status, seconds): the metrics, when on.
    """
    settings.require_contact()
    async with _opened_budget(settings) as budget, \
            aiohttp_transport(settings.esi_max_inflight, settings.esi_max_body_bytes) as raw:
        counter = CountingTransport(raw, observe)
        client = EsiClient(counter, budget, base_url=settings.esi_base_url,
                           user_agent=user_agent(settings.esi_contact),
                           compatibility_date=settings.esi_compatibility_date,
                           timeout_s=settings.esi_timeout_s,
                           max_body_bytes=settings.esi_max_body_bytes)
        with holding("esi"):
            yield Esi(client=client, counter=counter, budget=budget)


def budget_rules(settings: Settings) -> Rules:
    """The budget's rules; without the daily downtime window when ESI_DAILY_DOWNTIME is off."""
    if settings.esi_daily_downtime:
        return RULES
    return WITHOUT_DOWNTIME


def cap_groups(settings: Settings) -> dict[str, CapGroup]:
    """ESI_ROUTE_CAPS as the budget's rules take it."""
    return {name: CapGroup(group.per_s, frozenset(group.routes))
            for name, group in settings.esi_route_caps.items()}


def budget_view(settings: Settings, clock: Callable[[], float] | None = None) -> BudgetView:
    """What every status reader (status, --watch, the web) shows of the budget: the configured rules,
    on the store's clock unless `clock` (a test's)."""
    return BudgetView(budget_rules(settings), clock)


@asynccontextmanager
async def _opened_budget(settings: Settings) -> AsyncIterator[PgBudget | RunnerBudget]:
    """The mode's shared budget: the runner's memory (written to the SQLite file), or PostgreSQL's tables."""
    budget = await patiently(lambda: _budget(settings), wait=False, max_delay_s=1)
    try:
        with holding("budget"):
            yield budget
    finally:
        await budget.close()


async def _budget(settings: Settings) -> PgBudget | RunnerBudget:
    kind: type[PgBudget] | type[RunnerBudget] = RunnerBudget
    failures: tuple[type[Exception], ...] = (OSError, sqlite3.Error, DBAPIError)
    if not settings.embedded:
        import asyncpg

        from killreport.budget.pg import PgBudget

        kind, failures = PgBudget, (*failures, asyncpg.PostgresError)
    try:
        return await kind.open(settings.database_url, max_inflight=settings.esi_max_inflight,
                               error_floor=settings.esi_error_floor, lease_ttl_s=settings.lease_ttl_s,
                               rules=budget_rules(settings), route_caps=cap_groups(settings))
    except failures as exc:
        where = mask_url(settings.database_url)
        raise ServiceUnavailable(f"the ESI budget's database at {where} cannot be used: {exc}") from exc
