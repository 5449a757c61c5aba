"""The R2Z2 client over a fake transport (a plain function), and its aiohttp transport against a tiny
local server: every answer is a value or one error of the tree, with the bounds on size and time."""

from __future__ import annotations

import importlib.metadata
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from killreport.agent import user_agent
from killreport.domain.killmail import Package, Rejected
from killreport.r2z2 import (
    FeedRequest,
    FeedResponse,
    Forbidden,
    MalformedBody,
    R2z2Client,
    R2z2Error,
    RateLimited,
    ServerError,
    Timeout,
    Transport,
    UnexpectedStatus,
    Unreachable,
    aiohttp_transport,
)
from killreport.r2z2.classify import retry_after
from tests.misbehaving_http import huge, serving, slow
from tests.unit.test_esi_models import SPEC_PATH
from tests.unit.test_killmail_models import ZKB

KILLMAIL = json.loads(SPEC_PATH.read_text())["components"]["schemas"]["KillmailsKillmailIdKillmailHashGet"][
    "example"]
PACKAGE = {"killmail_id": 3, "hash": "ab" * 20, "esi": KILLMAIL, "zkb": ZKB, "uploaded_at": 1_765_000_000,
           "sequence_id": 1_000_007}


def answers(*responses: tuple[int, Any] | tuple[int, Any, dict[str, str]] | Exception) -> tuple[
        Transport, list[FeedRequest]]:
    """A transport that plays back (status, body[, headers]) or raises, recording the requests."""
    seen: list[FeedRequest] = []
    queue = list(responses)

    async def transport(request: FeedRequest) -> FeedResponse:
        seen.append(request)
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        body = item[1] if isinstance(item[1], bytes) else json.dumps(item[1]).encode()
        return FeedResponse(item[0], item[2] if len(item) > 2 else {}, body)

    return transport, seen


def client(transport: Transport) -> R2z2Client:
    return R2z2Client(transport, base_url="http://feed.test/r2z2/", user_agent=user_agent("ops@example.com"))


async def test_sequence_sends_a_descriptive_user_agent() -> None:
    transport, seen = answers((200, {"sequence": 1_000_050}))
    assert await client(transport).sequence() == 1_000_050
    [request] = seen
    version = importlib.metadata.version("killreport")
    assert request.url == "http://feed.test/r2z2/ephemeral/sequence.json"
    assert request.headers["User-Agent"].startswith(f"killreport/{version} (ops@example.com; +https://")
    assert user_agent(" (x;) ") == user_agent("x") and "no contact given" in user_agent("")


async def test_a_package_reads_404_is_not_yet_and_a_failing_killmail_is_rejected() -> None:
    broken = {**PACKAGE, "esi": {**KILLMAIL, "victim": {}}}
    transport, seen = answers((200, PACKAGE), (404, {"error": "not found"}), (200, broken))
    feed = client(transport)
    got = await feed.package(1_000_007)
    assert isinstance(got, Package) and got.esi.victim.damage_taken == 1
    assert await feed.package(1_000_008) is None
    rejected = await feed.package(1_000_007)
    assert isinstance(rejected, Rejected) and "victim" in rejected.reason
    assert seen[1].url == "http://feed.test/r2z2/ephemeral/1000008.json"


async def test_a_file_that_names_another_number_is_malformed() -> None:
    transport, _ = answers((200, PACKAGE))
    with pytest.raises(MalformedBody, match="1000007"):
        await client(transport).package(1_000_006)


@pytest.mark.parametrize(("status", "headers", "error", "retry"), [
    (429, {"retry-after": "3"}, RateLimited, 3.0), (429, {}, RateLimited, None),
    (403, {"retry-after": "junk"}, Forbidden, None), (403, {"retry-after": "120"}, Forbidden, 120.0),
    (500, {}, ServerError, None), (502, {}, ServerError, None), (503, {}, ServerError, None),
    (400, {}, UnexpectedStatus, None), (301, {}, UnexpectedStatus, None), (410, {}, UnexpectedStatus, None)])
async def test_every_status_is_one_error(status: int, headers: dict[str, str], error: type[R2z2Error],
                                         retry: float | None) -> None:
    for call in ("sequence", "package"):
        transport, _ = answers((status, {"error": "x"}, headers))
        feed = client(transport)
        with pytest.raises(error) as caught:
            await (feed.sequence() if call == "sequence" else feed.package(1))
        assert caught.value.status == status and "feed.test" in str(caught.value)
        assert getattr(caught.value, "retry_after_s", None) == retry


def test_retry_after_is_read_totally() -> None:
    assert [retry_after({"retry-after": v}) for v in ("1", " 2.5 ", "-1", "nan", "inf", "", "1e9")] == [
        1.0, 2.5, None, None, None, None, 3600.0]
    assert retry_after({}) is None


@pytest.mark.parametrize("body", [b"", b"not json", b'{"sequence": ', b'{"sequence": "5"}', b"[]",
                                  b'{"sequence": 5.5}', b"[" * 100_000])
async def test_an_unusable_head_pointer_is_malformed_with_a_short_reason(body: bytes) -> None:
    transport, _ = answers((200, body))
    with pytest.raises(MalformedBody) as caught:
        await client(transport).sequence()
    assert len(str(caught.value)) < 300


async def test_transport_failures_pass_through() -> None:
    transport, _ = answers(Unreachable("refused"), Timeout("slow"))
    feed = client(transport)
    with pytest.raises(Unreachable):
        await feed.sequence()
    with pytest.raises(Timeout):
        await feed.package(1)


async def test_day_files_and_totals() -> None:
    bad = {**KILLMAIL, "killmail_id": "4"}
    transport, seen = answers((200, {"3": "ab" * 20}), (404, {}), (200, {"3": KILLMAIL, "4": bad}),
                              (200, {"20261206": 2}), (200, {"x3": "ab" * 20}))
    feed = client(transport)
    assert await feed.day("20261206") == {3: "ab" * 20}
    assert await feed.raw_day("20261207") is None
    raw = await feed.raw_day("20261206")
    assert raw is not None and sorted(raw.spans) == [3, 4]
    good, refused = raw.killmail(3), raw.killmail(4)
    assert not isinstance(good, str) and good.victim.damage_taken == KILLMAIL["victim"]["damage_taken"]
    assert isinstance(refused, str) and "killmail_id" in refused
    assert await feed.totals() == {"20261206": 2}
    with pytest.raises(MalformedBody):
        await feed.day("20261205")
    assert [r.url.removeprefix("http://feed.test/r2z2") for r in seen] == [
        "/history/20261206.json", "/history/raw/20261207.json", "/history/raw/20261206.json",
        "/history/totals.json", "/history/20261205.json"]
    assert seen[0].max_body_bytes > 100 * 2**20 and seen[0].timeout_s > 10
    with pytest.raises(ValueError, match="YYYYMMDD"):
        await feed.day("2026-12-06")


async def test_a_raw_body_naming_another_killmail_or_not_an_object_is_that_kill_s_reason_alone() -> None:
    other = {**KILLMAIL, "killmail_id": 5}
    transport, _ = answers((200, {"3": other, "4": [1, 2], "6": KILLMAIL}))
    raw = await client(transport).raw_day("20261206")
    assert raw is not None
    assert raw.killmail(3) == "its killmail_id 5 is not its key 3"
    assert isinstance(raw.killmail(4), str) and "schema mismatch" in str(raw.killmail(4))
    assert isinstance(raw.killmail(6), str)  # the example's own id is not 6


@pytest.mark.parametrize(("body", "why"), [
    (b'{"3": {}, "3": {}}', "appears twice"), (b'{"3": {}} x', "text after"), (b'{"3": {}', "expected"),
    (b'{"3": {"a": }', "unreadable"), (b"[]", "expected"), (b'{"x3": {}}', "not a killmail id"),
    (b'{"-3": {}}', "not a killmail id"), (b'{3: {}}', "a key expected"), (b"", "expected"),
    (b'{"3" {}}', "':' expected"), (b'{"3": {} "4": {}}', "',' expected"), (b"\xff", "UTF-8"),
    (b'{"3": ' + b"[" * 100_000 + b"}", "unreadable"), (b'{"' + b"9" * 20 + b'": {}}', "not a killmail id")])
async def test_a_malformed_raw_day_is_one_clear_error(body: bytes, why: str) -> None:
    transport, _ = answers((200, body))
    with pytest.raises(MalformedBody, match=why) as caught:
        await client(transport).raw_day("20261206")
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("body", [{"3": "AB" * 20}, {"3": "ab" * 19}, {"3": 5},
                                  {"3": "ab" * 20, "x": "ab" * 20},
                                  b'{"3": "' + b"ab" * 20 + b'", "3": "' + b"cd" * 20 + b'"}', [], "ab"])
async def test_a_malformed_hash_list_is_one_clear_error(body: Any) -> None:
    transport, _ = answers((200, body))
    with pytest.raises(MalformedBody):
        await client(transport).day("20261206")


async def test_empty_day_files_read_as_empty() -> None:
    transport, _ = answers((200, {}), (200, b" { } "))
    feed = client(transport)
    assert await feed.day("20261206") == {}
    raw = await feed.raw_day("20261206")
    assert raw is not None and raw.spans == {}


async def _cut(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": "1000"})
    await response.prepare(request)
    await response.write(b'{"sequence": 1')
    assert request.transport is not None
    request.transport.close()  # the connection ends inside the body
    return response


async def _agent(request: web.Request) -> web.Response:
    return web.json_response({"sequence": 7}, headers={"X-Seen-Agent": request.headers.get("User-Agent", "")})


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with serving((("/huge", huge), ("/slow", slow), ("/cut", _cut), ("/ok", _agent))) as base:
        yield base


async def test_the_aiohttp_transport_bounds_size_and_time_and_classifies_failures(server: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    async with aiohttp_transport() as transport:
        got = await transport(FeedRequest(server + "/ok", {"User-Agent": "killreport/x"}))
        assert got.status == 200 and got.headers["x-seen-agent"] == "killreport/x"
        with pytest.raises(MalformedBody, match="larger than 100000"):
            await transport(FeedRequest(server + "/huge", max_body_bytes=100_000))
        with pytest.raises(Timeout):
            await transport(FeedRequest(server + "/slow", timeout_s=0.2))
        with pytest.raises(MalformedBody, match="truncated"):
            await transport(FeedRequest(server + "/cut"))
        with pytest.raises(Unreachable):
            await transport(FeedRequest(closed))
