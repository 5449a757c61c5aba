"""The composition root of every command: settings → database, broker, ESI client, passed down explicitly."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from killreport.budget.pg import PgBudget
from killreport.budget.rules import RULES, Rules
from killreport.config import Settings, mask_url
from killreport.esi.client import EsiClient, user_agent
from killreport.esi.counting import CountingTransport, Observer
from killreport.esi.transport import aiohttp_transport
from killreport.queue.broker import BrokerUnavailable
from killreport.queue.rabbit import RabbitBroker
from killreport.services import ServiceUnavailable, patiently


def load_settings() -> Settings:
    """Settings from the environment and `.env` (raises pydantic.ValidationError on bad values)."""
    return Settings()


async def _connect(settings: Settings, attempts: int) -> RabbitBroker:
    try:
        return await RabbitBroker.connect(settings.rabbitmq_url, settings.retry_delays_s,
                                          connect_attempts=attempts, connect_delay_s=0.5)
    except BrokerUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from exc


@asynccontextmanager
async def broker(settings: Settings, *, wait: bool = False,
                 max_delay_s: float = 30.0) -> AsyncIterator[RabbitBroker]:
    """A connected broker with every queue declared; waits with backoff if `wait`."""
    connected = await patiently(lambda: _connect(settings, 1 if wait else 2), wait=wait,
                                max_delay_s=max_delay_s)
    try:
        yield connected
    finally:
        await connected.close()


@dataclass
class Esi:
    """The ESI client with the counters of what it sent."""

    client: EsiClient
    counter: CountingTransport
    budget: PgBudget


@asynccontextmanager
async def esi_client(settings: Settings, observe: Observer | None = None) -> AsyncIterator[Esi]:
    """An ESI client on the shared PostgreSQL budget (refuses the real ESI without a contact).

    `observe` is told of every request (route template, status, seconds): the metrics, when on.
    """
    settings.require_contact()
    budget = await patiently(lambda: _budget(settings), wait=False, max_delay_s=1)
    try:
        async with aiohttp_transport(settings.esi_max_inflight, settings.esi_max_body_bytes) as raw:
            counter = CountingTransport(raw, observe)
            client = EsiClient(counter, budget, base_url=settings.esi_base_url,
                               user_agent=user_agent(settings.esi_contact),
                               compatibility_date=settings.esi_compatibility_date,
                               timeout_s=settings.esi_timeout_s,
                               max_body_bytes=settings.esi_max_body_bytes)
            yield Esi(client=client, counter=counter, budget=budget)
    finally:
        await budget.close()


def budget_rules(settings: Settings) -> Rules:
    """The budget's rules; without the daily downtime window when ESI_DAILY_DOWNTIME is off."""
    if settings.esi_daily_downtime:
        return RULES
    return dataclasses.replace(RULES, downtime_lead_s=0.0, downtime_max_s=0.0)


async def _budget(settings: Settings) -> PgBudget:
    try:
        return await PgBudget.open(settings.database_url, max_inflight=settings.esi_max_inflight,
                                   error_floor=settings.esi_error_floor,
                                   lease_ttl_s=settings.lease_ttl_s, rules=budget_rules(settings))
    except (OSError, asyncpg.PostgresError) as exc:
        where = mask_url(settings.database_url)
        raise ServiceUnavailable(f"PostgreSQL unreachable at {where}: {exc}") from exc
