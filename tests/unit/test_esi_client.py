"""The ESI client over a fake transport (a plain function) and an in-memory budget that records calls."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.metadata
import json
import time
from typing import Any

import pytest
from aiohttp import web

from killreport.agent import user_agent
from killreport.budget.memory import MemoryBudget
from killreport.domain import models
from killreport.domain.budget import BudgetSnapshot, Lease
from killreport.domain.budget_rules import Limits
from killreport.domain.cache import Fetched, NotModified
from killreport.domain.observation import Observation
from killreport.esi.client import NOT_SENT, EsiClient, NotSent, route_of, sending_until
from killreport.esi.errors import (
    Deleted,
    MalformedResponse,
    NotFound,
    PermanentError,
    ServerError,
    TransientError,
    TransportError,
)
from killreport.esi.transport import aiohttp_transport
from killreport.esi.types import EsiRequest, EsiResponse, Transport
from tests.rules import NO_DOWNTIME
from tests.unit.test_r2z2_client import KILLMAIL

CHARACTER = {"name": "Ann 'O\" <b>", "birthday": "2010-01-01T00:00:00Z", "bloodline_id": 1,
             "race_id": 1, "corporation_id": 98000001, "gender": "female", "achievement_score": 7}


class RecordingBudget:
    """Grants every reservation and remembers what was settled."""

    def __init__(self) -> None:
        self.reserved: list[str] = []
        self.settled: list[Observation] = []

    async def reserve(self, route: str) -> Lease:
        self.reserved.append(route)
        return Lease(id=len(self.reserved), route=route)

    async def settle(self, lease: Lease, observation: Observation) -> None:
        self.settled.append(observation)

    async def snapshot(self) -> BudgetSnapshot:
        return BudgetSnapshot(None, None, None, None, 0)


def answers(*responses: tuple[int, Any, dict[str, str]] | Exception) -> tuple[
        Transport, list[EsiRequest]]:
    """A transport that plays back responses and records the requests."""
    seen: list[EsiRequest] = []
    queue = list(responses)

    async def transport(request: EsiRequest) -> EsiResponse:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        status, body, headers = item
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return EsiResponse(status=status, headers=headers, body=raw)

    return transport, seen


def client(transport: Transport, budget: RecordingBudget) -> EsiClient:
    return EsiClient(transport, budget, base_url="http://esi.test/", user_agent=user_agent("a@b.c"),
                     compatibility_date="2026-08-18", timeout_s=5, max_body_bytes=1_000)


async def test_every_request_sends_user_agent_and_compatibility_date() -> None:
    transport, seen = answers((200, CHARACTER, {"expires": "Sat, 28 Nov 2026 15:39:56 GMT",
                                                "etag": '"e"', "x-esi-error-limit-remain": "99",
                                                "x-esi-error-limit-reset": "30"}))
    budget = RecordingBudget()
    got = await client(transport, budget).character(90000001)
    assert isinstance(got, Fetched)
    assert got.data.name == CHARACTER["name"] and got.etag == '"e"' and got.expires_at is not None
    [request] = seen
    assert request.url == "http://esi.test/characters/90000001"
    assert request.headers["X-Compatibility-Date"] == "2026-08-18"
    agent = request.headers["User-Agent"]
    assert agent.startswith(f"killreport/{importlib.metadata.version('killreport')} (a@b.c; ")
    assert request.headers["Accept"] == "application/json" and "If-None-Match" not in request.headers
    assert budget.reserved == ["/characters/{id}"]
    assert budget.settled[0].error_remain == 99


async def test_420_and_429_wait_on_the_budget_and_try_again_without_raising() -> None:
    transport, seen = answers(
        (420, {"error": "This software has exceeded the error limit for ESI."},
         {"x-esi-error-limit-remain": "0", "x-esi-error-limit-reset": "3"}),
        (429, {"error": "Too many requests"}, {"retry-after": "1"}),
        (200, CHARACTER, {}))
    budget = RecordingBudget()
    await client(transport, budget).character(90000001)
    assert len(seen) == 3 and [o.status for o in budget.settled] == [420, 429, 200]


@pytest.mark.parametrize("response,error", [
    ((404, {"error": "Character has been deleted!"}, {}), Deleted),
    ((404, {"error": "Character not found"}, {}), NotFound),
    ((400, {"error": "bad"}, {}), PermanentError),
    ((502, b"<html>Bad gateway</html>", {}), ServerError),
    ((503, {"error": "The datasource tranquility is temporarily unavailable"}, {}), ServerError),
    ((200, b"{not json", {}), MalformedResponse),
    ((200, b"<html>oops</html>", {}), MalformedResponse),
    ((200, {**CHARACTER, "corporation_id": "98000001"}, {}), MalformedResponse),
    ((200, {k: v for k, v in CHARACTER.items() if k != "name"}, {}), MalformedResponse),
    ((200, {**CHARACTER, "race_id": True}, {}), MalformedResponse),
    ((200, {**CHARACTER, "gender": "other"}, {}), MalformedResponse),
    ((200, b"[" * 50_000, {}), MalformedResponse),
    ((200, b"x" * 2_000, {}), MalformedResponse),
    (MalformedResponse("body larger than 4 bytes", status=200), MalformedResponse),
    (TransportError("timed out"), TransportError),
])
async def test_failures_raise_the_right_error_and_always_settle(response: Any, error: type) -> None:
    transport, _ = answers(response)
    budget = RecordingBudget()
    with pytest.raises(error):
        await client(transport, budget).character(90000001)
    assert len(budget.settled) == 1
    if isinstance(response, TransportError):
        assert budget.settled[0].is_error and budget.settled[0].status is None


async def test_420_with_the_real_budget_waits_out_the_reset_then_succeeds() -> None:
    transport, seen = answers(
        (200, [1], {"x-esi-error-limit-remain": "50", "x-esi-error-limit-reset": "30"}),
        (420, {"error": "This software has exceeded the error limit for ESI."},
         {"x-esi-error-limit-remain": "0", "x-esi-error-limit-reset": "1"}),
        (200, CHARACTER, {"x-esi-error-limit-remain": "100", "x-esi-error-limit-reset": "59"}))
    budget = MemoryBudget(Limits(max_inflight=4, error_floor=10, lease_ttl_s=10), rules=NO_DOWNTIME)
    esi = EsiClient(transport, budget, base_url="http://esi.test", user_agent=user_agent("a@b.c"),
                    compatibility_date="2026-08-18", timeout_s=5,
                    max_body_bytes=4 * 1024 * 1024)
    await esi.alliance_ids()
    t0 = time.monotonic()
    got = await esi.character(90000001)
    assert isinstance(got, Fetched)
    assert got.data.gender == "female" and len(seen) == 3  # the 420 was asked again once
    assert time.monotonic() - t0 >= 0.9, "the retry did not wait for the error window to reset"
    snap = await budget.snapshot()
    assert snap.error_limit_remaining == 100 and snap.in_flight == 0


async def test_etag_is_sent_and_304_comes_back_as_not_modified() -> None:
    transport, seen = answers((304, b"", {"expires": "Sat, 28 Nov 2026 16:00:00 GMT"}),
                              (304, b"", {}))
    esi = client(transport, RecordingBudget())
    got = await esi.get("/alliances/99000001", models.Alliance, etag='"abc"')
    assert isinstance(got, NotModified) and got.expires_at is not None
    assert seen[0].headers["If-None-Match"] == '"abc"'
    with pytest.raises(TransientError):  # 304 to an unconditional request
        await esi.alliance(99000001)


def test_user_agent_names_version_contact_and_project() -> None:
    agent = user_agent("ops@example.com")
    installed = importlib.metadata.version("killreport")  # the package's metadata, not a constant
    assert agent == f"killreport/{installed} (ops@example.com; +https://github.com/killreport/killreport)"
    assert "\n" not in user_agent("a@b.c\r\nX-Evil: 1")
    assert route_of("/alliances/99000001/corporations") == "/alliances/{id}/corporations"


async def test_special_ids_are_never_requested() -> None:
    transport, seen = answers()
    budget = RecordingBudget()
    for call in (client(transport, budget).character(3000001), client(transport, budget).character(1),
                 client(transport, budget).corporation(1000001)):
        with pytest.raises(PermanentError):
            await call
    assert seen == [] and budget.reserved == []


@pytest.mark.parametrize("method,path", [
    ("alliance", "/alliances/99000001"), ("alliance_corporations", "/alliances/99000001/corporations"),
    ("corporation", "/corporations/98000001"), ("character", "/characters/90000001")])
async def test_every_entity_method_sends_its_etag_and_returns_not_modified(method: str, path: str) -> None:
    transport, seen = answers((304, b"", {"expires": "Sat, 28 Nov 2026 16:00:00 GMT"}))
    budget = RecordingBudget()
    entity_id = int(path.split("/")[2])
    got = await getattr(client(transport, budget), method)(entity_id, etag='"abc"')
    assert isinstance(got, NotModified) and got.expires_at is not None
    assert got.expires_at.isoformat() == "2026-11-28T16:00:00+00:00"
    assert seen[0].url.endswith(path) and seen[0].headers["If-None-Match"] == '"abc"'
    assert [o.status for o in budget.settled] == [304] and not budget.settled[0].is_error


async def test_a_changed_resource_answers_200_to_a_conditional_request() -> None:
    transport, seen = answers((200, CHARACTER, {"etag": '"new"'}))
    got = await client(transport, RecordingBudget()).character(90000001, etag='"old"')
    assert isinstance(got, Fetched) and got.etag == '"new"' and got.data.name == CHARACTER["name"]
    assert seen[0].headers["If-None-Match"] == '"old"'


AFFILIATION = [{"character_id": 90000001, "corporation_id": 98000001, "alliance_id": 99000001},
               {"character_id": 90000002, "corporation_id": 1000167, "faction_id": 500001}]


async def test_affiliations_post_a_json_body_through_the_budget() -> None:
    transport, seen = answers((200, AFFILIATION, {"expires": "Sat, 28 Nov 2026 16:00:00 GMT"}))
    budget = RecordingBudget()
    got = await client(transport, budget).affiliations([90000001, 90000002])
    assert [a.character_id for a in got.data] == [90000001, 90000002]
    assert got.data[0].alliance_id == 99000001 and got.data[0].faction_id is None
    assert got.data[1].faction_id == 500001 and got.expires_at is not None and got.etag is None
    [request] = seen
    assert request.method == "POST" and request.url == "http://esi.test/characters/affiliation"
    assert json.loads(request.body or b"") == [90000001, 90000002]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Compatibility-Date"] == "2026-08-18"
    assert "If-None-Match" not in request.headers
    assert budget.reserved == ["/characters/affiliation"] and len(budget.settled) == 1


@pytest.mark.parametrize("ids", [[], list(range(90000001, 90001002)), [90000001, 90000001], [0],
                                 [True], [2**63]])
async def test_affiliations_refuse_a_batch_esi_would_refuse_without_a_request(ids: list[int]) -> None:
    transport, seen = answers()
    budget = RecordingBudget()
    with pytest.raises(ValueError):
        await client(transport, budget).affiliations(ids)
    assert seen == [] and budget.reserved == []


async def test_affiliations_take_a_full_batch_of_1000() -> None:
    ids = list(range(90000001, 90001001))
    rows = [{"character_id": i, "corporation_id": 98000001} for i in ids]
    transport, seen = answers((200, rows, {}))
    esi = EsiClient(transport, RecordingBudget(), base_url="http://esi.test", user_agent=user_agent("a@b.c"),
                    compatibility_date="2026-08-18", timeout_s=5, max_body_bytes=1_000_000)
    got = await esi.affiliations(ids)
    assert len(got.data) == 1000 and len(json.loads(seen[0].body or b"")) == 1000


@pytest.mark.parametrize("bad", [
    [{"character_id": 90000001}],
    [{"character_id": "90000001", "corporation_id": 98000001}],
    [{"character_id": 90000001, "corporation_id": 98000001, "alliance_id": True}],
    {"character_id": 90000001, "corporation_id": 98000001},
    b"<html>oops</html>"])
async def test_affiliation_answers_are_validated_strictly(bad: Any) -> None:
    transport, _ = answers((200, bad, {}))
    with pytest.raises(MalformedResponse):
        await client(transport, RecordingBudget()).affiliations([90000001])


async def test_status_is_read_strictly_and_vip_is_optional() -> None:
    body = {"players": 23456, "server_version": "2968471", "start_time": "2026-11-28T11:07:12Z"}
    transport, seen = answers((200, {**body, "vip": True}, {"expires": "Sat, 28 Nov 2026 16:00:00 GMT"}),
                              (200, body, {}), (200, {**body, "players": "1"}, {}))
    budget = RecordingBudget()
    esi = client(transport, budget)
    first = await esi.status()
    assert (first.data.players, first.data.vip, first.data.start_time) == (23456, True, body["start_time"])
    assert (await esi.status()).data.vip is None
    with pytest.raises(MalformedResponse):
        await esi.status()
    assert seen[0].method == "GET" and seen[0].url == "http://esi.test/status"
    assert budget.reserved == ["/status"] * 3


async def test_a_304_to_an_unconditional_post_or_status_is_transient() -> None:
    transport, _ = answers((304, b"", {}), (304, b"", {}))
    esi = client(transport, RecordingBudget())
    with pytest.raises(TransientError):
        await esi.affiliations([90000001])
    with pytest.raises(TransientError):
        await esi.status()


async def test_the_real_transport_sends_the_post_body_and_its_content_type() -> None:
    seen: dict[str, Any] = {}

    async def affiliation(request: web.Request) -> web.Response:
        seen.update(body=await request.read(), ctype=request.headers.get("Content-Type"))
        return web.json_response([{"character_id": 90000001, "corporation_id": 98000001}])

    app = web.Application()
    app.router.add_post("/characters/affiliation", affiliation)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp_transport(4, 1_000_000) as transport:
            esi = EsiClient(transport, RecordingBudget(), base_url=f"http://127.0.0.1:{port}",
                            user_agent=user_agent("a@b.c"), compatibility_date="2026-08-18",
                            timeout_s=5, max_body_bytes=1_000_000)
            got = await esi.affiliations([90000001])
    finally:
        await runner.cleanup()
    assert got.data[0].corporation_id == 98000001
    assert seen == {"body": b"[90000001]", "ctype": "application/json"}


class UnreachableBudget(RecordingBudget):
    """Grants reservations, but its database is gone by the time a request is settled."""

    async def settle(self, lease: Lease, observation: Observation) -> None:
        raise ConnectionRefusedError("budget database unreachable")


async def test_an_answer_worth_keeping_survives_a_failed_settle() -> None:
    transport, _ = answers((200, CHARACTER, {"etag": '"e"'}), (304, b"", {}),
                           (502, {"error": "Bad gateway"}, {}))
    esi = client(transport, UnreachableBudget())
    got = await esi.character(90000001)
    assert isinstance(got, Fetched) and got.etag == '"e"'
    assert isinstance(await esi.character(90000001, etag='"e"'), NotModified)
    with pytest.raises(ConnectionRefusedError):  # nothing to keep: the budget's trouble shows
        await esi.character(90000001)


EXPIRES = {"expires": "Sat, 28 Nov 2026 16:00:00 GMT"}


@pytest.mark.parametrize("response", [
    (200, b"<html>oops</html>", EXPIRES), (200, {"name": 1}, EXPIRES), (200, b"x" * 2_000, EXPIRES),
    (502, b"<html>502 Bad Gateway</html>", EXPIRES), (304, b"", EXPIRES)])
async def test_an_unusable_answer_tells_the_expires_it_came_with(response: Any) -> None:
    transport, _ = answers(response)
    with pytest.raises(TransientError) as caught:
        await client(transport, RecordingBudget()).character(90000001)
    assert caught.value.expires_at == dt.datetime(2026, 11, 28, 16, tzinfo=dt.UTC)


async def test_no_answer_or_no_expires_tells_none() -> None:
    transport, _ = answers(TransportError("timed out"), (500, {"error": "x"}, {}))
    esi = client(transport, RecordingBudget())
    for _ in range(2):
        with pytest.raises(TransientError) as caught:
            await esi.character(90000001)
        assert caught.value.expires_at is None


async def test_the_real_transport_tells_the_expires_of_a_body_over_the_cap() -> None:
    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=b"[" + b"1," * 50_000 + b"1]", headers={"Expires": EXPIRES["expires"]})

    app = web.Application()
    app.router.add_get("/characters/90000001", huge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp_transport(4, 10_000) as transport:
            esi = EsiClient(transport, RecordingBudget(), base_url=f"http://127.0.0.1:{port}",
                            user_agent=user_agent("a@b.c"), compatibility_date="2026-08-18",
                            timeout_s=5, max_body_bytes=10_000)
            with pytest.raises(MalformedResponse) as caught:
                await esi.character(90000001)
    finally:
        await runner.cleanup()
    assert caught.value.expires_at == dt.datetime(2026, 11, 28, 16, tzinfo=dt.UTC)


class SlowBudget(RecordingBudget):
    """Grants a reservation only after a while, as a budget waiting out a pause does."""

    def __init__(self, wait_s: float) -> None:
        super().__init__()
        self.wait_s = wait_s
        self.cancelled = 0

    async def reserve(self, route: str) -> Lease:
        try:
            await asyncio.sleep(self.wait_s)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return await super().reserve(route)


class BlockingBudget(RecordingBudget):
    """Grants only after a while without yielding: a grant that arrives as the deadline passes."""

    async def reserve(self, route: str) -> Lease:
        time.sleep(0.05)  # noqa: ASYNC251 - on purpose: no await at which the deadline could cut in
        return await super().reserve(route)


async def test_the_wait_for_the_budget_ends_at_the_deadline_and_nothing_is_sent() -> None:
    transport, seen = answers((200, CHARACTER, {}))
    budget = SlowBudget(wait_s=30)
    esi = client(transport, budget)
    started = time.monotonic()
    with sending_until(started + 0.05), pytest.raises(NotSent):
        await esi.character(90000001)
    assert time.monotonic() - started < 5  # not at the grant, 30 s later
    assert seen == [] and budget.cancelled == 1 and budget.reserved == [] and budget.settled == []
    budget.wait_s = 0.01
    with sending_until(time.monotonic() + 5):
        assert isinstance(await esi.character(90000001), Fetched)
    assert len(seen) == 1


async def test_a_lease_granted_as_the_deadline_passed_is_given_back_unused() -> None:
    transport, seen = answers((200, CHARACTER, {}))
    budget = BlockingBudget()
    esi = client(transport, budget)
    with sending_until(time.monotonic() + 0.01), pytest.raises(NotSent):
        await esi.character(90000001)
    assert seen == [] and budget.settled == [NOT_SENT] and not NOT_SENT.is_error


async def test_an_answer_in_flight_outlives_a_cancellation_which_stops_the_next_request() -> None:
    seen: list[EsiRequest] = []

    async def slow(request: EsiRequest) -> EsiResponse:
        seen.append(request)
        await asyncio.sleep(0.1)
        return EsiResponse(status=200, headers={"etag": '"e"'}, body=json.dumps(CHARACTER).encode())

    budget = RecordingBudget()
    esi = client(slow, budget)

    async def job() -> tuple[object, BaseException | None]:
        got = await esi.character(90000001)
        try:
            await esi.character(90000002)
        except asyncio.CancelledError as exc:
            return got, exc
        return got, None

    running = asyncio.create_task(job())
    await asyncio.sleep(0.02)
    running.cancel()
    got, refused = await running
    assert isinstance(got, Fetched) and got.etag == '"e"', "the answer in flight was dropped"
    assert isinstance(refused, asyncio.CancelledError) and len(seen) == 1
    assert [o.status for o in budget.settled] == [200]


async def test_a_second_cancellation_gives_the_answer_up() -> None:
    async def slow(request: EsiRequest) -> EsiResponse:
        await asyncio.sleep(1)
        raise AssertionError("not reached")

    budget = RecordingBudget()
    running = asyncio.create_task(client(slow, budget).character(90000001))
    await asyncio.sleep(0.02)
    running.cancel()
    await asyncio.sleep(0.02)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert budget.settled[0].is_error and budget.settled[0].status is None


def _killmail_client(transport: Transport, budget: RecordingBudget) -> EsiClient:
    return EsiClient(transport, budget, base_url="http://esi.test/", user_agent=user_agent("a@b.c"),
                     compatibility_date="2026-08-18", timeout_s=5, max_body_bytes=1_000_000)


async def test_a_killmail_is_asked_by_id_and_hash_under_one_route_template() -> None:
    bucket = {"x-ratelimit-group": "killmail", "x-ratelimit-limit": "3600/15m",
              "x-ratelimit-remaining": "3598", "expires": "Wed, 06 Jan 2027 12:00:00 GMT"}
    transport, seen = answers((200, KILLMAIL, bucket), (200, KILLMAIL, bucket))
    budget = RecordingBudget()
    esi = _killmail_client(transport, budget)
    got = await esi.killmail(KILLMAIL["killmail_id"], "ab" * 20)
    await esi.killmail(KILLMAIL["killmail_id"], "0123456789" * 4)  # all digits: still the hash's place
    assert got.data.killmail_id == KILLMAIL["killmail_id"] and got.expires_at == dt.datetime(
        2027, 1, 6, 12, tzinfo=dt.UTC)
    assert seen[0].url == f"http://esi.test/killmails/{KILLMAIL['killmail_id']}/{'ab' * 20}/"
    assert budget.reserved == ["/killmails/{id}/{hash}/"] * 2
    assert budget.settled[0].tokens is not None and budget.settled[0].tokens.remaining == 3598
    assert route_of(f"/killmails/1/{'ab' * 20}") == "/killmails/{id}/{hash}"


async def test_a_wrong_killmail_hash_is_a_permanent_failure_for_that_kill() -> None:
    transport, _ = answers((422, {"error": "Invalid killmail_id and/or killmail_hash"}, {}))
    with pytest.raises(PermanentError, match="Invalid killmail_id") as caught:
        await _killmail_client(transport, RecordingBudget()).killmail(130_000_001, "ab" * 20)
    assert caught.value.status == 422


@pytest.mark.parametrize(("killmail_id", "killmail_hash"), [
    (0, "ab" * 20), (130_000_001, "AB" * 20), (130_000_001, "ab" * 19), (130_000_001, "../../status"),
    (130_000_001, "ab" * 20 + "/x")])
async def test_a_killmail_id_or_hash_esi_would_refuse_is_never_sent(killmail_id: int,
                                                                     killmail_hash: str) -> None:
    transport, seen = answers()
    budget = RecordingBudget()
    with pytest.raises(PermanentError, match="not requested"):
        await _killmail_client(transport, budget).killmail(killmail_id, killmail_hash)
    assert seen == [] and budget.reserved == []


async def test_a_killmail_body_failing_the_schema_is_malformed() -> None:
    transport, _ = answers((200, {"killmail_id": 1}, {}))
    with pytest.raises(MalformedResponse, match="schema mismatch"):
        await _killmail_client(transport, RecordingBudget()).killmail(1, "ab" * 20)
