"""Security end to end: secrets in the URL shapes and failure paths test_secrets.py does not try, and TLS.

tests/integration/test_secrets.py runs the commands and a worker with a plain password in both
URLs and services on port 1. Here: PostgreSQL's password as a `?password=` parameter and a
RabbitMQ password full of reserved characters (percent-encoded), the stage commands one by one,
URLs the libraries would split wrongly, host names that do not resolve, a refused RabbitMQ login,
a worker waiting for RabbitMQ (whose library logs are on), the unforeseen-error traceback at DEBUG,
settings that cannot be parsed; and TLS: the transport's context, a private CA, and the CLI.

PostgreSQL here trusts local connections, so any password connects; RabbitMQ gets a user of its
own, removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from aiohttp import web

from killreport.esi.transport import aiohttp_transport
from killreport.sim.testing import running_sim
from killreport.store import migrate
from tests import services
from tests.cluster import Done, cli, cli_here, env_for, migrated, workers

pytestmark = pytest.mark.timeout(240)

SECRET = f"Sx{uuid.uuid4().hex[:12]}"
# Every reserved character raw in the password: the URL carries it percent-encoded.
RABBIT_PASSWORD = f"{SECRET}@:/%?#& ="


def replace_netloc(url: str, netloc: str, query: str = "") -> str:
    """`url` with another user/password/host part (and query)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def assert_clean(done: Done, *what: str) -> None:
    """Neither output stream carries the secret, raw or encoded (both start with SECRET)."""
    assert SECRET not in done.out and SECRET not in done.err, (what, done.out[-2000:], done.err[-2000:])


def one_error_line(done: Done) -> str:
    """The only line a failed command printed."""
    lines = [line for line in done.err.splitlines() if line.strip()]
    assert done.code == 1 and len(lines) == 1, done
    return lines[0]


@pytest.fixture
def rabbit_url(fresh_rabbit_url: str) -> Iterator[str]:
    """An AMQP URL for a user of its own on the test vhost, with RABBIT_PASSWORD percent-encoded."""
    with services.rabbit_user(fresh_rabbit_url, RABBIT_PASSWORD) as user:
        yield replace_netloc(fresh_rabbit_url, f"{user}:{quote(RABBIT_PASSWORD, safe='')}@127.0.0.1:5672")


@pytest.fixture
def pg_url(fresh_pg_url: str) -> str:
    """The test database reached with SECRET as a `?password=` parameter (trust auth accepts it)."""
    return replace_netloc(fresh_pg_url, "root@127.0.0.1:5432", f"password={SECRET}")


@pytest.fixture
async def env(pg_url: str, rabbit_url: str) -> dict[str, str]:
    """A migrated database and a vhost, both reached with a secret, DEBUG logs, no ESI."""
    await migrated(pg_url)
    return env_for(pg_url, rabbit_url, "http://127.0.0.1:9", LOG_LEVEL="DEBUG")


async def test_unusual_url_shapes_work_and_never_show_their_password(env: dict[str, str]) -> None:
    """`?password=` and an encoded password full of reserved characters work for every command and a
    worker, and the password shows nowhere."""
    async with running_sim(alliances=3) as sim:
        env = {**env, "ESI_BASE_URL": sim.base_url}
        for args in (["migrate"], ["status"], ["dlq", "list", "--json"]):
            done = await cli_here(env, *args)
            assert done.code == 0, (args, done.err[-2000:])
            assert_clean(done, *args)
        async with workers(env, 1) as [worker]:
            for args in (["sync-alliances"], ["sync-corporations"], ["sync-characters"],
                         ["queue", "corporation", "98000001"], ["sync-all", "--wait"]):
                done = await cli_here(env, *args)
                assert done.code == 0, (args, done.err[-2000:])
                assert_clean(done, *args)
            status = await cli_here(env, "status", "--json")
        assert_clean(status, "status --json")
        assert json.loads(status.out)["stored"]["alliances"] == 3, status.out
        assert worker.returncode == 0
        log = worker.log
        assert "worker consuming" in log, "the worker's log was not captured: nothing was checked"
        assert SECRET not in log, log[-3000:]


MISREAD = [
    ("DATABASE_URL", f"root:{SECRET}@127.0.0.1:5432/x"),  # no scheme
    ("DATABASE_URL", f"host=127.0.0.1 password={SECRET}"),  # libpq key/value, not a URL
    ("DATABASE_URL", f"postgresql://root:{SECRET}/x@127.0.0.1:5432/x"),  # raw '/' in the password
    ("DATABASE_URL", f"postgresql://root:{SECRET}@127.0.0.1:port/x"),  # not a port
    ("RABBITMQ_URL", f"guest:{SECRET}@127.0.0.1:5672/"),  # no scheme: aio-pika logged it as it retried
    ("RABBITMQ_URL", f"amqp://guest:12/{SECRET}@127.0.0.1:5672/"),  # read as host "guest", port 12
    ("RABBITMQ_URL", f"amqp://guest:{SECRET}#x@127.0.0.1:5672/"),  # raw '#'
    ("RABBITMQ_URL", f"amqp://guest:{SECRET}"),  # password without a host
]


@pytest.mark.parametrize("name,url", MISREAD, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MISREAD)])
async def test_urls_the_libraries_would_misread_stop_every_command_at_once(
        env: dict[str, str], name: str, url: str) -> None:
    """Every command, the worker included (it used to retry forever), stops with one line naming the
    variable and never the URL."""
    broken = {**env, name: url}
    runs = [["status"], ["migrate"], ["dlq", "list"], ["sync-alliances"], ["queue", "alliance", "99000001"],
            ["worker", "all"]]
    done = await asyncio.gather(*(cli(broken, *args, timeout_s=60) for args in runs))
    for args, result in zip(runs, done, strict=True):
        line = one_error_line(result)
        assert line.startswith(f"killreport: error: invalid setting {name}: "), (args, result)
        assert_clean(result, *args)


async def test_services_that_cannot_be_reached_or_refuse_never_show_the_password(
        env: dict[str, str], fresh_rabbit_url: str) -> None:
    """Unknown host names, a refused RabbitMQ login (its wrong password is a secret too) and the
    `?password=` form on a dead port: one line naming the service, no password."""
    wrong_login = replace_netloc(fresh_rabbit_url, f"guest:{SECRET}@127.0.0.1:5672")
    cases = [
        ({"DATABASE_URL": f"postgresql://root:{SECRET}@nosuchhost.invalid:5432/x"}, "PostgreSQL unreachable"),
        ({"DATABASE_URL": f"postgresql://root@127.0.0.1:1/x?password={SECRET}"}, "PostgreSQL unreachable"),
        ({"RABBITMQ_URL": f"amqp://guest:{SECRET}@nosuchhost.invalid:5672/"}, "RabbitMQ at"),
        ({"RABBITMQ_URL": wrong_login}, "ACCESS_REFUSED"),
    ]
    for override, needle in cases:
        runs = [["status"], ["queue", "alliance", "99000001"], ["sync-corporations"]]
        if "DATABASE_URL" in override:
            runs.append(["migrate"])
        else:
            runs.append(["dlq", "list"])
        done = await asyncio.gather(*(cli({**env, **override}, *args, timeout_s=60) for args in runs))
        for args, result in zip(runs, done, strict=True):
            assert needle in one_error_line(result), (override, args, result)
            assert_clean(result, *args)


@pytest.mark.parametrize("port_or_login", ["port", "login"])
async def test_a_worker_waiting_for_rabbitmq_logs_without_the_password(
        env: dict[str, str], fresh_rabbit_url: str, port_or_login: str) -> None:
    """A worker shows its libraries' warnings: aio-pika's and aiormq's included, nothing has the password."""
    netloc = f"guest:{SECRET}@127.0.0.1:{'1' if port_or_login == 'port' else '5672'}"
    async with workers({**env, "RABBITMQ_URL": replace_netloc(fresh_rabbit_url, netloc)}, 1) as [proc]:
        await proc.until_logged("service unavailable; retrying", times=3)  # several attempts
    log = proc.log
    assert "service unavailable; retrying" in log, log[-2000:]
    assert SECRET not in log, log[-3000:]


async def test_an_unforeseen_failure_shows_its_traceback_but_never_the_password(
        fresh_pg_url: str, rabbit_url: str) -> None:
    """With LOG_LEVEL=DEBUG an unforeseen error prints its whole traceback, without the password."""
    pg = replace_netloc(fresh_pg_url, f"root:{SECRET}@127.0.0.1:5432")
    await asyncio.to_thread(migrate.upgrade, pg, "0001")  # the budget tables are missing
    done = await cli_here(env_for(pg, rabbit_url, "http://127.0.0.1:9", LOG_LEVEL="DEBUG"), "status")
    assert done.code == 1 and done.err.startswith("killreport: unexpected error: "), done
    assert "Traceback" in done.err, "no traceback printed: the DEBUG path was not exercised"
    assert_clean(done, "status")


@pytest.mark.parametrize("name,value", [
    ("RETRY_DELAYS_S", f"[5, {SECRET}]"),
    ("ESI_TIMEOUT_S", SECRET),
    ("WORKER_CONCURRENCY", SECRET),
    ("ESI_COMPATIBILITY_DATE", SECRET),
], ids=lambda v: v if v.isupper() else "secret")  # ids never hold the random secret: xdist's workers
async def test_a_bad_setting_is_named_and_not_echoed(env: dict[str, str], name: str, value: str) -> None:
    """A value that does not parse is named by its variable in one line; the value is not repeated."""
    for args in (["status"], ["worker", "all"]):
        done = await cli({**env, name: value}, *args, timeout_s=60)
        assert one_error_line(done).startswith(f"killreport: error: invalid setting {name}: "), done
        assert_clean(done, *args)


# TLS ---------------------------------------------------------------------------------------------


def openssl(*args: str) -> None:
    """Run openssl with an argument list (no shell)."""
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed CA certificate and key in `directory`."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", str(key), "-out", str(cert))
    return cert, key


def make_leaf(directory: Path, name: str, san: str, ca: tuple[Path, Path]) -> tuple[Path, Path]:
    """A server certificate for `san` (e.g. IP:127.0.0.1) signed by `ca`."""
    cert, key, csr, ext = (directory / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", str(key),
            "-out", str(csr))
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                   "keyUsage=digitalSignature,keyEncipherment\nauthorityKeyIdentifier=keyid\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(cert))
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A trusted CA; leaves for 127.0.0.1 and for another name from it; a leaf from a CA nobody trusts."""
    directory = tmp_path_factory.mktemp("pki")
    ca, stranger = make_ca(directory, "kr-test-ca"), make_ca(directory, "kr-stranger-ca")
    good = make_leaf(directory, "good", "IP:127.0.0.1", ca)
    wrong_name = make_leaf(directory, "wrong-name", "DNS:esi.example.invalid", ca)
    untrusted = make_leaf(directory, "untrusted", "IP:127.0.0.1", stranger)
    return {"ca": ca[0], "good_cert": good[0], "good_key": good[1], "wrong_name_cert": wrong_name[0],
            "wrong_name_key": wrong_name[1], "untrusted_cert": untrusted[0], "untrusted_key": untrusted[1]}


@pytest.fixture
async def https_servers(pki: dict[str, Path]) -> AsyncIterator[tuple[dict[str, str], list[str]]]:
    """Loopback HTTPS servers, one per certificate, answering /alliances; their base URLs and the
    paths that reached a handler (a refused handshake must reach none)."""
    hits: list[str] = []

    async def alliances(request: web.Request) -> web.Response:
        """What a server would answer once TLS was accepted."""
        hits.append(request.path)
        return web.json_response([99000001], headers={"X-ESI-Error-Limit-Remain": "100",
                                                      "X-ESI-Error-Limit-Reset": "60"})

    app = web.Application()
    app.router.add_get("/alliances", alliances)
    runner = web.AppRunner(app)
    await runner.setup()
    urls = {}
    for name in ("good", "wrong_name", "untrusted"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki[f"{name}_cert"], pki[f"{name}_key"])
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        urls[name] = f"https://127.0.0.1:{runner.addresses[-1][1]}"
    try:
        yield urls, hits
    finally:
        await runner.cleanup()


async def test_the_real_transport_resolves_to_a_verifying_context() -> None:
    """The transport's connector hands every https request a context that checks the chain and name."""
    async with aiohttp_transport(max_connections=4, max_body_bytes=1_000) as transport:
        # aiohttp's own private state and resolver: the only way to see the context it will use
        # without a handshake (the handshakes are the next two tests).
        connector = transport._session.connector
        assert connector is not None and getattr(connector, "_ssl") is True
        https = SimpleNamespace(is_ssl=lambda: True, ssl=True)  # what aiohttp asks of a request
        context = getattr(connector, "_get_ssl_context")(https)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True


CLIENT = textwrap.dedent("""
    import asyncio, json, sys
    from killreport.esi.errors import TransportError
    from killreport.esi.transport import aiohttp_transport
    from killreport.esi.types import EsiRequest

    async def main() -> None:
        results = {}
        async with aiohttp_transport(4, 100_000) as transport:
            for name, base in json.loads(sys.argv[1]).items():
                try:
                    got = await transport(EsiRequest("GET", base + "/alliances", {}, None, 10))
                    results[name] = got.status
                except TransportError as exc:
                    results[name] = str(exc)
        print(json.dumps(results))

    asyncio.run(main())
""")


async def test_only_a_certificate_for_this_host_from_a_trusted_ca_is_accepted(
        pki: dict[str, Path], https_servers: tuple[dict[str, str], list[str]]) -> None:
    """With the test CA trusted (SSL_CERT_FILE, read when aiohttp builds its context, hence a child
    process), its certificate for 127.0.0.1 is accepted: so the refusals are verification at work.
    The same CA's certificate for another name, and a stranger CA's for 127.0.0.1, are refused."""
    urls, hits = https_servers
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, json.dumps(urls), env={"SSL_CERT_FILE": str(pki["ca"]),
                                                             "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    results = json.loads(out)
    assert results["good"] == 200, results
    assert "certificate verify failed" in results["wrong_name"].lower(), results
    assert "127.0.0.1" in results["wrong_name"] or "match" in results["wrong_name"].lower(), results
    assert "certificate verify failed" in results["untrusted"].lower(), results
    assert hits == ["/alliances"], hits


async def test_the_cli_refuses_an_esi_whose_certificate_it_cannot_verify(
        fresh_pg_url: str, fresh_rabbit_url: str, https_servers: tuple[dict[str, str], list[str]]) -> None:
    """Built through the composition root, `sync-alliances` refuses the handshake with one clear
    line, and no request reaches the server."""
    urls, hits = https_servers
    await migrated(fresh_pg_url)
    done = await cli(env_for(fresh_pg_url, fresh_rabbit_url, urls["good"]), "sync-alliances")
    line = one_error_line(done)
    assert "certificate verify failed" in line.lower() and urls["good"] in line, line
    assert hits == [], hits

